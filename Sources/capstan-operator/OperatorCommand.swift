import ArgumentParser
import CapstanAPI
import CapstanKubeRuntime
import CapstanOperator
import Foundation

/// `capstan-operator`: reconciles Capstan's custom resources (`run`), prints their CRDs (`crds`)
/// and the ClusterRole the registered kinds need (`rbac`).
@main
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-operator",
        abstract: "The Capstan Kubernetes operator.",
        subcommands: [RunCommand.self, CRDsCommand.self, RBACCommand.self])
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

struct RBACCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rbac",
        abstract: "Print the ClusterRole (YAML) the registered kinds and their children need; the Helm chart's is tested against it.")

    @Option(help: "The ClusterRole's name.")
    var name = "capstan-operator"

    func run() async throws {
        print(PolicyRule.clusterRoleYAML(name: name, rules: Operator.policyRules()), terminator: "")
    }
}
