import CapstanCore
import Foundation
import Yams

/// Where the API server is and how to authenticate to it.
///
/// Build one from a kubeconfig file (`KubeConfig.load(...)`), from the pod's service account
/// (`KubeConfig.inCluster()`), or by hand for tests. `description` never prints credentials.
public struct KubeConfig: Sendable, CustomStringConvertible {
    /// Base URL, e.g. `https://10.0.0.1:443` or `http://127.0.0.1:6443`.
    public var server: String
    /// The namespace the configuration names (the context's, or the service account's); "default" otherwise.
    public var namespace: String
    public var auth: Auth
    /// PEM bytes of the CA bundle to trust (nil: the system's trust store).
    public var certificateAuthorityData: [UInt8]?
    public var insecureSkipTLSVerify: Bool
    /// Sent as `User-Agent`; also the default field manager of updates.
    public var userAgent: String
    /// Upper bound on a non-watch request (connect + transfer).
    public var requestTimeout: Duration

    public enum Auth: Sendable {
        case none
        case bearerToken(String)
        /// A token re-read from this file (service-account tokens are rotated by the kubelet).
        case bearerTokenFile(String)
        /// PEM client certificate and key.
        case clientCertificate(certificate: [UInt8], key: [UInt8])
        case basic(username: String, password: String)
    }

    public init(
        server: String, namespace: String = "default", auth: Auth = .none, certificateAuthorityData: [UInt8]? = nil,
        insecureSkipTLSVerify: Bool = false, userAgent: String = "capstan", requestTimeout: Duration = .seconds(30)
    ) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.namespace = namespace
        self.auth = auth
        self.certificateAuthorityData = certificateAuthorityData
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.userAgent = userAgent
        self.requestTimeout = requestTimeout
    }

    public var description: String {
        let method: String
        switch auth {
        case .none: method = "none"
        case .bearerToken: method = "bearer token"
        case .bearerTokenFile(let path): method = "bearer token file \(path)"
        case .clientCertificate: method = "client certificate"
        case .basic(let username, _): method = "basic (\(username))"
        }
        return "KubeConfig(server: \(server), namespace: \(namespace), auth: \(method), customCA: \(certificateAuthorityData != nil))"
    }

    // MARK: kubeconfig

    /// Reads a kubeconfig file. `path` nil means `$KUBECONFIG` (its first entry), else `~/.kube/config`.
    public static func load(path: String? = nil, context: String? = nil) throws -> KubeConfig {
        let environment = ProcessInfo.processInfo.environment
        let resolved = path
            ?? environment["KUBECONFIG"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? (environment["HOME"].map { "\($0)/.kube/config" } ?? ".kube/config")
        guard let data = FileManager.default.contents(atPath: resolved) else {
            throw KubeConfigError("cannot read the kubeconfig file \(resolved)")
        }
        let directory = (resolved as NSString).deletingLastPathComponent
        return try parse(String(decoding: data, as: UTF8.self), context: context, baseDirectory: directory, source: resolved)
    }

    /// Parses kubeconfig YAML. Relative file references resolve against `baseDirectory`.
    public static func parse(_ yaml: String, context: String? = nil, baseDirectory: String = ".", source: String = "kubeconfig") throws -> KubeConfig {
        let document: JSONValue
        do {
            document = try JSONValue.parseYAML(yaml)
        } catch {
            throw KubeConfigError("\(source): \(error)")
        }
        guard let contextName = context ?? document["current-context"]?.stringValue, !contextName.isEmpty else {
            throw KubeConfigError("\(source): no context given and no current-context set")
        }
        func named(_ list: String, _ name: String, _ field: String) throws -> JSONValue {
            let entries = document[list]?.arrayValue ?? []
            guard let entry = entries.first(where: { $0["name"]?.stringValue == name }) else {
                throw KubeConfigError("\(source): \(list) has no entry named \"\(name)\"")
            }
            return entry[field] ?? .emptyObject
        }
        let contextEntry = try named("contexts", contextName, "context")
        guard let clusterName = contextEntry["cluster"]?.stringValue else {
            throw KubeConfigError("\(source): context \"\(contextName)\" names no cluster")
        }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let server = cluster["server"]?.stringValue, !server.isEmpty else {
            throw KubeConfigError("\(source): cluster \"\(clusterName)\" has no server")
        }
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
        }
        func fileBytes(_ path: String, _ what: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: resolve(path)) else {
                throw KubeConfigError("\(source): cannot read \(what) file \(resolve(path))")
            }
            return Array(data)
        }
        func base64(_ text: String, _ what: String) throws -> [UInt8] {
            guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw KubeConfigError("\(source): \(what) is not valid base64")
            }
            return Array(data)
        }

        var ca: [UInt8]?
        if let data = cluster["certificate-authority-data"]?.stringValue {
            ca = try base64(data, "clusters[\(clusterName)].certificate-authority-data")
        } else if let file = cluster["certificate-authority"]?.stringValue {
            ca = try fileBytes(file, "certificate-authority")
        }

        var auth = Auth.none
        if let userName = contextEntry["user"]?.stringValue {
            let user = try named("users", userName, "user")
            if let token = user["token"]?.stringValue {
                auth = .bearerToken(token)
            } else if let file = user["tokenFile"]?.stringValue {
                auth = .bearerTokenFile(resolve(file))
            } else if user["client-certificate-data"] != nil || user["client-certificate"] != nil {
                let certificate = try user["client-certificate-data"]?.stringValue.map { try base64($0, "users[\(userName)].client-certificate-data") }
                    ?? fileBytes(user["client-certificate"]?.stringValue ?? "", "client-certificate")
                guard user["client-key-data"] != nil || user["client-key"] != nil else {
                    throw KubeConfigError("\(source): user \"\(userName)\" has a client certificate but no client key")
                }
                let key = try user["client-key-data"]?.stringValue.map { try base64($0, "users[\(userName)].client-key-data") }
                    ?? fileBytes(user["client-key"]?.stringValue ?? "", "client-key")
                auth = .clientCertificate(certificate: certificate, key: key)
            } else if let username = user["username"]?.stringValue, let password = user["password"]?.stringValue {
                auth = .basic(username: username, password: password)
            } else if user["exec"] != nil || user["auth-provider"] != nil {
                throw KubeConfigError("\(source): user \"\(userName)\" uses an exec or auth-provider plugin, which Capstan does not run; use a token or client certificate")
            }
        }
        let insecure = cluster["insecure-skip-tls-verify"]?.boolValue ?? false
        let namespace = contextEntry["namespace"]?.stringValue ?? "default"
        return KubeConfig(server: server, namespace: namespace, auth: auth, certificateAuthorityData: ca, insecureSkipTLSVerify: insecure)
    }

    // MARK: in-cluster

    /// The configuration of a pod: `KUBERNETES_SERVICE_HOST`/`PORT`, and the service account's
    /// token (re-read as it rotates), CA and namespace under `serviceAccountDirectory`.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws -> KubeConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw KubeConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
        }
        let tokenPath = "\(serviceAccountDirectory)/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubeConfigError("in-cluster configuration: cannot read the service-account token \(tokenPath)")
        }
        let ca = FileManager.default.contents(atPath: "\(serviceAccountDirectory)/ca.crt").map(Array.init)
        let namespace = FileManager.default.contents(atPath: "\(serviceAccountDirectory)/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "default"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return KubeConfig(
            server: "https://\(hostPart):\(port)", namespace: namespace.isEmpty ? "default" : namespace,
            auth: .bearerTokenFile(tokenPath), certificateAuthorityData: ca)
    }

    /// In-cluster configuration when running in a pod, else the kubeconfig (`$KUBECONFIG` or `~/.kube/config`).
    public static func automatic() throws -> KubeConfig {
        if ProcessInfo.processInfo.environment["KUBERNETES_SERVICE_HOST"] != nil {
            return try inCluster()
        }
        return try load()
    }
}

/// A kubeconfig or in-cluster configuration that cannot be used, and why.
public struct KubeConfigError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
