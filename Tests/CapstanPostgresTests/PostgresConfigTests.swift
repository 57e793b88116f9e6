import CapstanCore
import CapstanPostgres
import Testing

@Suite("PostgresConfig")
struct PostgresConfigTests {
    @Test func parsesEveryPartOfAURL() throws {
        let config = try PostgresConfig(
            url: "postgresql://fe%40st:p%3Ass%2Fw@db.example.com:6543/off%20line?sslmode=require&connect_timeout=7&application_name=worker")
        #expect(config.user == "fe@st")
        #expect(config.password == "p:ss/w")
        #expect(config.host == "db.example.com")
        #expect(config.port == 6543)
        #expect(config.database == "off line")
        #expect(config.sslMode == "require")
        #expect(config.connectTimeout == .seconds(7))
        #expect(config.applicationName == "worker")
    }

    @Test func defaultsPortAndDatabaseAndAcceptsIPv6AndSocketHosts() throws {
        let plain = try PostgresConfig(url: "postgres://capstan@localhost")
        #expect(plain.port == 5432)
        #expect(plain.database == "capstan")
        #expect(plain.password == nil)
        let v6 = try PostgresConfig(url: "postgres://u:p@[::1]:5433/d")
        #expect(v6.host == "::1")
        #expect(v6.port == 5433)
        let socket = try PostgresConfig(url: "postgres://u@%2Fvar%2Frun%2Fpostgresql/d")
        #expect(socket.host == "/var/run/postgresql")
    }

    @Test func descriptionNeverContainsThePassword() throws {
        let config = try PostgresConfig(url: "postgres://capstan:hunter2-secret@127.0.0.1:5432/capstan")
        #expect(config.description == "postgres://capstan@127.0.0.1:5432/capstan")
        #expect(!"\(config)".contains("hunter2"))
    }

    @Test(arguments: [
        "mysql://u@h/d", "postgres://@h/d", "postgres://u@h:99999/d", "postgres://u@h:abc/d",
        "postgres://u@h/d?sslmod=require", "postgres://u@h/d%zz",
    ])
    func rejectsMalformedURLs(url: String) {
        #expect(throws: CapstanError.self) { try PostgresConfig(url: url) }
    }
}
