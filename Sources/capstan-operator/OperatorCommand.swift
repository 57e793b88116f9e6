import ArgumentParser
import CapstanAPI
import CapstanOperator
import Foundation

/// `capstan-operator`: reconciles Capstan's custom resources (`run`) and prints their CRDs
/// (`crds`).
@main
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-operator",
        abstract: "The Capstan Kubernetes operator.",
        subcommands: [RunCommand.self, CRDsCommand.self])
}

struct CRDsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crds", abstract: "Print the CustomResourceDefinitions (YAML), generated from the Swift types.")

    @Option(name: .customLong("output-dir"), help: "Write one file per CRD into this directory instead of printing (repeatable).")
    var outputDirectories: [String] = []

    func run() async throws {
        guard !outputDirectories.isEmpty else {
            print(try CRDGenerator.yaml(), terminator: "")
            return
        }
        for directory in outputDirectories {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in try CRDGenerator.files() {
                try file.yaml.write(toFile: "\(directory)/\(file.name)", atomically: true, encoding: .utf8)
                print("wrote \(directory)/\(file.name)")
            }
        }
    }
}
