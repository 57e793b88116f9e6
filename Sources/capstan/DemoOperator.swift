import ArgumentParser
import CapstanAPI
import CapstanCore
import CapstanKube
import CapstanKubeServer
import CapstanOperator
import Foundation
import Logging
import Yams

/// The operator part of `capstan demo` (and `capstan operator-demo`): an in-process Kubernetes
/// API server, the operator reconciling against it, the CRDs and examples/k8s applied, and the
/// resulting children and conditions printed. Deployments are marked available by the API
/// server (no pods run here). The kubeconfig it writes lets kubectl look while it runs.
enum OperatorDemo {
    static func run(examples: String = "examples/k8s", directory: String, hold: Bool) async throws {
        let logger = Logger(label: "capstan.demo.operator")
        var serverLogger = Logger(label: "capstan.demo.apiserver")
        serverLogger.logLevel = .critical  // its shutdown chatter is not the demo's business
        let server = KubeAPIServer(configuration: .init(deploymentsBecomeAvailable: true), logger: serverLogger)
        try await server.start()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let kubeconfig = "\(directory)/kubeconfig"
        try server.writeKubeconfig(to: kubeconfig)
        let client = KubeClient(config: server.clientConfig(userAgent: "capstan-demo"), logger: logger)
        Console.line("")
        Console.line("Operator: in-process Kubernetes API server at \(server.url)")
        for crd in try CustomResourceDefinitions.all() {
            _ = try await client.apply(.customResourceDefinitions, crd, fieldManager: "capstan-demo", force: true)
        }
        Console.line("applied the CRDs: \(CustomResourceDefinitions.kinds.map { "\($0.plural).\($0.group)" }.joined(separator: ", "))")

        let op = Operator(client: client, configuration: OperatorConfiguration(), options: .init(workers: 2), logger: logger)
        let operatorTask = Task { try await op.run() }
        defer { operatorTask.cancel() }

        var applied: [(KubeResource, String)] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: examples).filter { $0.hasSuffix(".yaml") }.sorted()
        for file in files {
            for document in try Yams.load_all(yaml: try String(contentsOfFile: "\(examples)/\(file)", encoding: .utf8)) {
                guard let map = document as? [String: Any], let kind = map["kind"] as? String else { continue }
                let object = try JSONValue.parse(Array(try JSONSerialization.data(withJSONObject: map)))
                guard let resource = Operator.resource(forKind: kind) else { throw CapstanError(.invalidSpec, "\(examples)/\(file): unknown kind \(kind)") }
                _ = try await client.apply(resource, object, fieldManager: "capstan-demo", force: true)
                applied.append((resource, object.name ?? ""))
            }
        }
        Console.line("applied \(examples)/: \(applied.map { "\($0.0.kind)/\($0.1)" }.joined(separator: ", "))")

        let deadline = ContinuousClock.now + .seconds(30)
        func ready(_ item: (KubeResource, String)) -> Bool {
            let conditions = server.object(item.0, name: item.1)?[path: ["status", "conditions"]]?.arrayValue ?? []
            return conditions.contains { $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True" }
        }
        while !applied.allSatisfy(ready), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        for (resource, name) in applied { try printResource(server: server, resource: resource, name: name) }
        if hold {
            Console.line("look with kubectl while this runs:  kubectl --kubeconfig \(kubeconfig) get capstan")
            Console.line("holding; Ctrl-C to stop")
            while !Task.isCancelled { try await Task.sleep(for: .seconds(1)) }
        } else {
            Console.line("to look with kubectl, keep it running:  capstan operator-demo --hold")
        }
        operatorTask.cancel()
        _ = try? await operatorTask.value
        await server.stop()
    }

    static func printResource(server: KubeAPIServer, resource: KubeResource, name: String) throws {
        guard let object = server.object(resource, name: name) else { return }
        Console.line("\(resource.kind)/\(name) (generation \(object.generation ?? 0)):")
        for condition in object[path: ["status", "conditions"]]?.arrayValue ?? [] {
            let type = condition["type"]?.stringValue ?? "", status = condition["status"]?.stringValue ?? ""
            let reason = condition["reason"]?.stringValue ?? "", message = condition["message"]?.stringValue ?? ""
            Console.line("  \(type)=\(status) \(reason)\(message.isEmpty ? "" : ": \(message)")")
        }
        if let version = object[path: ["status", "definitionVersion"]]?.stringValue {
            Console.line("  definition \(version.prefix(16)), ready workers \(object[path: ["status", "readyWorkers"]]?.intValue ?? 0)")
        }
        if let traffic = object[path: ["status", "traffic"]]?.arrayValue {
            let table = traffic.map { "\($0["version"]?.stringValue ?? "")=\($0["weight"]?.intValue ?? 0)%" }.joined(separator: " ")
            Console.line("  traffic \(table), url \(object[path: ["status", "url"]]?.stringValue ?? "")")
        }
        let uid = object.uid
        var children: [String] = []
        for child in [KubeResource.configMaps, .deployments, .services, .horizontalPodAutoscalers, .cronJobs] {
            for item in server.objects(child, namespace: object.namespace)
            where item.ownerReferences.contains(where: { $0["uid"]?.stringValue == uid && $0["controller"]?.boolValue == true }) {
                children.append("\(child.kind)/\(item.name ?? "")")
            }
        }
        Console.line("  children: \(children.sorted().joined(separator: ", "))")
    }
}

/// `capstan operator-demo`: only the operator part of the demo; `--hold` keeps the API server
/// up for kubectl until Ctrl-C.
struct OperatorDemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator-demo", abstract: "Run the operator against an in-process Kubernetes API server with examples/k8s.")

    @Option(help: "Directory with the example resources.")
    var examples = "examples/k8s"

    @Option(help: "Where to write the kubeconfig.")
    var directory = ".capstan/operator-demo"

    @Flag(help: "Keep running (for kubectl) until Ctrl-C.")
    var hold = false

    func run() async throws {
        LogSetup.bootstrap(level: .warning)
        try await OperatorDemo.run(examples: examples, directory: directory, hold: hold)
    }
}
