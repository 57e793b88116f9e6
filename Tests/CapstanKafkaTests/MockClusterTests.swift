import CapstanCore
import CapstanKafka
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("KafkaMockCluster", .timeLimit(.minutes(1)))
struct MockClusterTests {
    @Test("every mock broker accepts TCP connections on its loopback bootstrap address")
    func brokersListenOnLoopback() async throws {
        try await withMockCluster(brokers: 3) { cluster in
            let addresses = cluster.bootstrapServers.split(separator: ",")
            #expect(addresses.count == 3)
            for address in addresses {
                let parts = address.split(separator: ":")
                let port = try #require(UInt16(parts.last!))
                #expect(connects(host: "127.0.0.1", port: port), "\(address)")
            }
        }
    }

    @Test("createTopic rejects a replication factor above the broker count and works after validation")
    func createTopicValidates() async throws {
        try await withMockCluster(brokers: 1) { cluster in
            await #expect(throws: CapstanError.self) { try await cluster.createTopic("t", partitions: 2, replicationFactor: 3) }
            try await cluster.createTopic("t", partitions: 2)
            await cluster.close()
            await #expect(throws: CapstanError.self) { try await cluster.createTopic("u", partitions: 1) }
        }
    }
}

private func connects(host: String, port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    inet_pton(AF_INET, host, &address.sin_addr)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
