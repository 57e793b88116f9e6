import CapstanKube
import Foundation
import Testing

@Suite("kubeconfig and in-cluster configuration")
struct KubeConfigTests {
    private let pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

    @Test("token auth, CA data and the context's namespace; the description hides the token")
    func tokenAndCA() throws {
        let yaml = """
            apiVersion: v1
            kind: Config
            current-context: prod
            clusters:
            - name: prod-cluster
              cluster:
                server: https://10.0.0.1:6443/
                certificate-authority-data: \(Data(pem.utf8).base64EncodedString())
            - name: other
              cluster: {server: https://other}
            users:
            - name: ops
              user: {token: s3cret-token}
            contexts:
            - name: prod
              context: {cluster: prod-cluster, user: ops, namespace: ml}
            - name: dev
              context: {cluster: other, user: ops}
            """
        let config = try KubeConfig.parse(yaml)
        #expect(config.server == "https://10.0.0.1:6443")
        #expect(config.namespace == "ml")
        #expect(config.certificateAuthorityData == Array(pem.utf8))
        guard case .bearerToken(let token) = config.auth else {
            Issue.record("expected a bearer token")
            return
        }
        #expect(token == "s3cret-token")
        #expect(!config.description.contains("s3cret"))

        let dev = try KubeConfig.parse(yaml, context: "dev")
        #expect(dev.server == "https://other")
        #expect(dev.namespace == "default")
        #expect(dev.certificateAuthorityData == nil)
    }

    @Test("client certificate and key, inline and as files relative to the kubeconfig")
    func clientCertificates() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("CERT".utf8).write(to: directory.appendingPathComponent("client.crt"))
        try Data("KEY".utf8).write(to: directory.appendingPathComponent("client.key"))
        try Data("CA".utf8).write(to: directory.appendingPathComponent("ca.crt"))
        let yaml = """
            current-context: files
            clusters:
            - name: c
              cluster: {server: "https://k8s:443", certificate-authority: ca.crt}
            users:
            - name: inline
              user: {client-certificate-data: \(Data("INLINE-CERT".utf8).base64EncodedString()), client-key-data: \(Data("INLINE-KEY".utf8).base64EncodedString())}
            - name: files
              user: {client-certificate: client.crt, client-key: client.key}
            contexts:
            - name: files
              context: {cluster: c, user: files}
            - name: inline
              context: {cluster: c, user: inline}
            """
        let path = directory.appendingPathComponent("config").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        let files = try KubeConfig.load(path: path)
        #expect(files.certificateAuthorityData == Array("CA".utf8))
        guard case .clientCertificate(let certificate, let key) = files.auth else {
            Issue.record("expected a client certificate")
            return
        }
        #expect(certificate == Array("CERT".utf8))
        #expect(key == Array("KEY".utf8))

        let inline = try KubeConfig.load(path: path, context: "inline")
        guard case .clientCertificate(let inlineCertificate, let inlineKey) = inline.auth else {
            Issue.record("expected a client certificate")
            return
        }
        #expect(inlineCertificate == Array("INLINE-CERT".utf8))
        #expect(inlineKey == Array("INLINE-KEY".utf8))
    }

    @Test("errors name what is missing")
    func errors() {
        #expect(throws: KubeConfigError.self) { try KubeConfig.parse("clusters: []") }
        do {
            _ = try KubeConfig.parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: nowhere}\nclusters: []\n")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("nowhere"))
        }
        do {
            _ = try KubeConfig.parse("""
                current-context: x
                contexts: [{name: x, context: {cluster: c, user: u}}]
                clusters: [{name: c, cluster: {server: "https://a"}}]
                users: [{name: u, user: {client-certificate-data: QQ==}}]
                """)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("no client key"))
        }
    }

    @Test("in-cluster: service host and port, token file, CA and namespace")
    func inCluster() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-sa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("tok".utf8).write(to: directory.appendingPathComponent("token"))
        try Data("CA".utf8).write(to: directory.appendingPathComponent("ca.crt"))
        try Data("capstan-system\n".utf8).write(to: directory.appendingPathComponent("namespace"))
        let config = try KubeConfig.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: directory.path)
        #expect(config.server == "https://[fd00::1]:443")
        #expect(config.namespace == "capstan-system")
        #expect(config.certificateAuthorityData == Array("CA".utf8))
        guard case .bearerTokenFile(let file) = config.auth else {
            Issue.record("expected a token file")
            return
        }
        #expect(file.hasSuffix("/token"))
        #expect(throws: KubeConfigError.self) { try KubeConfig.inCluster(environment: [:], serviceAccountDirectory: directory.path) }
    }
}
