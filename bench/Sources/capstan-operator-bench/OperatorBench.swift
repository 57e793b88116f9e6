import ArgumentParser
import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanOperator
import Foundation
import Logging

/// The load side of bench/operator.sh: applies the CRDs, then N FeatureViews and M
/// ModelDeployments to an API server, and measures the time until every one of them reports
/// Ready for its current generation. The operator and the API server run as separate
/// processes (the script measures the operator's RSS on its own).
@main
struct OperatorBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-operator-bench", abstract: "Apply many FeatureViews and ModelDeployments and time them to Ready.")

    @Option(help: "kubeconfig of the API server.")
    var kubeconfig: String

    @Flag(help: "Only apply the CRDs, then exit.")
    var crdsOnly = false

    @Option(help: "FeatureViews to apply.")
    var featureviews = 1000

    @Option(help: "ModelDeployments to apply.")
    var modeldeployments = 200

    @Option(help: "Concurrent apply requests.")
    var concurrency = 16

    @Option(help: "Give up after this many seconds.")
    var timeout: Double = 300

    @Option(help: "Namespace of the objects.")
    var namespace = "default"

    func run() async throws {
        LogSetup.bootstrapQuiet()
        let logger = Logger(label: "capstan.operator-bench")
        let client = KubeClient(config: try KubeConfig.load(path: kubeconfig), logger: logger, maxConcurrentRequests: concurrency)
        if crdsOnly {
            for crd in try CustomResourceDefinitions.all() {
                _ = try await client.apply(.customResourceDefinitions, try BenchObjects.json(crd), fieldManager: "capstan-bench", force: true)
            }
            print("crds applied")
            return
        }
        var objects: [(KubeResource, JSONValue)] = []
        for i in 0..<featureviews { objects.append((Operator.featureViews, try BenchObjects.featureView(i, namespace: namespace))) }
        for i in 0..<modeldeployments { objects.append((Operator.modelDeployments, try BenchObjects.modelDeployment(i, featureViews: featureviews, namespace: namespace))) }

        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func submit() {
                let (resource, object) = objects[next]
                next += 1
                group.addTask { _ = try await client.apply(resource, object, fieldManager: "capstan-bench", force: true) }
            }
            while next < min(concurrency, objects.count) { submit() }
            while try await group.next() != nil {
                if next < objects.count { submit() }
            }
        }
        let applied = ContinuousClock.now - started
        print(String(format: "applied %d FeatureViews and %d ModelDeployments in %.2f s", featureviews, modeldeployments, applied / .seconds(1)))

        let deadline = started + .milliseconds(Int64(timeout * 1000))
        var lastReport = ContinuousClock.now
        while true {
            let views = try await Self.readyCount(client, Operator.featureViews, namespace)
            let models = try await Self.readyCount(client, Operator.modelDeployments, namespace)
            if views == featureviews && models == modeldeployments { break }
            if ContinuousClock.now > deadline {
                throw ValidationError("timed out: \(views)/\(featureviews) FeatureViews and \(models)/\(modeldeployments) ModelDeployments Ready")
            }
            if ContinuousClock.now - lastReport > .seconds(2) {
                print("  ready: \(views)/\(featureviews) FeatureViews, \(models)/\(modeldeployments) ModelDeployments")
                lastReport = .now
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print(String(format: "seconds_to_ready=%.2f", seconds))
    }

    /// Objects whose Ready condition is True for their current generation.
    static func readyCount(_ client: KubeClient, _ resource: KubeResource, _ namespace: String) async throws -> Int {
        let list = try await client.listAll(resource, namespace: namespace)
        return list.items.filter { object in
            guard let generation = object.generation,
                let ready = object[path: ["status", "conditions"]]?.arrayValue?.first(where: { $0["type"]?.stringValue == "Ready" })
            else { return false }
            return ready["status"]?.stringValue == "True" && ready["observedGeneration"]?.intValue == generation
        }.count
    }
}

enum LogSetup {
    static func bootstrapQuiet() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
    }
}
