import CapstanCore
import CapstanFeatures
import CapstanPostgres
import Foundation
import Logging

/// Runs one upload's stages concurrently inside the upload's open transaction:
///
///     request body ─► feeder (gunzip, SHA-256, split, route) ─► shard workers ×N ─► writer (binary COPY)
///
/// Each stage hands over through a bounded queue, so memory stays at a few batches whatever the
/// file size. Any failure fails every queue, which stops all stages.
struct UploadPipeline {
    var target: UploadTarget
    var request: UploadRequest
    var uploadID: String
    /// The upload's id in `capstan_sources`, registered in the upload's transaction.
    var sourceID: Int32
    var configuration: IngestConfiguration
    var connection: PostgresConnection
    var logger: Logger

    struct Outcome {
        var contentSHA256: String
        var header: String?
        var records: Int64
        var accepted: Int64
        var rejected: Int64
        var minEventTime: Int64?
        var maxEventTime: Int64?
        var bytes: Int64
        var reported: [UploadReject]
        var newest: [String: (ts: Int64, values: [FeatureValue])]
    }

    /// Work for the shards: a batch and the CSV column mapping (known once the header is read).
    struct Work: Sendable {
        var batch: RawBatch
        var columns: [(field: Int, conversion: UploadTarget.Conversion)?]
    }

    enum WriterItem: Sendable {
        case part(EncodedPart)
        case segment(sequence: Int, firstLine: Int64, lastLine: Int64, count: Int, records: ArraySlice<UInt8>)
    }

    /// What one shard worker returns at the end.
    struct ShardResult: @unchecked Sendable {
        // @unchecked: the dictionary holds FeatureValues (Sendable) only; the tuple type is what
        // keeps the compiler from seeing that. It is handed over once, after the worker ended.
        var newest: [String: (ts: Int64, values: [FeatureValue])]
    }

    enum StageResult: Sendable {
        case shard(ShardResult)
        case writer(WriterTotals)
    }

    struct WriterTotals: Sendable {
        var accepted: Int64 = 0
        var rejected: Int64 = 0
        var minEventTime: Int64 = .max
        var maxEventTime: Int64 = .min
        var reported: [UploadReject] = []
    }

    func run(_ body: (UploadFeeder) async throws -> Void) async throws -> Outcome {
        let shards = max(1, min(configuration.workers, 64))
        let work = (0..<shards).map { _ in BoundedQueue<Work>(capacity: 2) }
        let parts = BoundedQueue<WriterItem>(capacity: shards * 3)
        @Sendable func failAll(_ error: any Error) {
            for queue in work { queue.fail(error) }
            parts.fail(error)
        }
        let target = self.target
        let request = self.request
        var columns: [(field: Int, conversion: UploadTarget.Conversion)?] = []
        let splitter = RecordSplitter(
            format: request.format, batchBytes: configuration.batchBytes, maxRecordBytes: configuration.maxRecordBytes, shardCount: shards
        ) { headerBytes in
            guard let headerBytes else { return target.router(header: nil) }
            let names = try Self.headerNames(headerBytes)
            columns = try target.csvColumns(header: names)
            return target.router(header: names)
        }
        let feeder = try UploadFeeder(request: request, configuration: configuration, splitter: splitter) { batch in
            let item = Work(batch: batch, columns: columns)
            for queue in work { try await queue.send(item) }
            try await parts.send(.segment(
                sequence: batch.sequence, firstLine: batch.firstLine, lastLine: batch.lastLine, count: batch.count,
                records: batch.bytes[batch.segment]))
        }
        let created = EpochMillis.now()
        let uploadID = self.uploadID
        let sourceID = self.sourceID
        let reportLimit = configuration.reportedRejects
        let writer = UploadWriter(connection: connection, uploadID: uploadID, view: target.name, shards: shards, reportLimit: reportLimit)

        return try await withThrowingTaskGroup(of: StageResult.self) { group in
            for shard in 0..<shards {
                let queue = work[shard]
                group.addTask {
                    do {
                        var transformer: ShardTransformer?
                        while let item = try await queue.receive() {
                            if transformer == nil {
                                transformer = ShardTransformer(
                                    shard: shard, target: target, format: request.format, columns: item.columns, uploadID: uploadID,
                                    sourceID: sourceID, createdMillis: created, reportLimit: reportLimit)
                            }
                            try await parts.send(.part(transformer!.transform(item.batch)))
                        }
                        return .shard(ShardResult(newest: transformer?.newestByEntity() ?? [:]))
                    } catch {
                        failAll(error)
                        throw error
                    }
                }
            }
            group.addTask {
                do {
                    var writer = writer
                    while let item = try await parts.receive() { try await writer.write(item) }
                    try await writer.flush()
                    return .writer(writer.totals)
                } catch {
                    failAll(error)
                    throw error
                }
            }
            let hash: String
            do {
                try await body(feeder)
                hash = try await feeder.finish()
                for queue in work { queue.finish() }
            } catch {
                failAll(error)
                throw error
            }
            var newest: [String: (ts: Int64, values: [FeatureValue])] = [:]
            var totals = WriterTotals()
            var shardsDone = 0
            do {
                while let result = try await group.next() {
                    switch result {
                    case .shard(let shard):
                        newest.merge(shard.newest) { a, b in a.ts >= b.ts ? a : b }
                        shardsDone += 1
                        if shardsDone == shards { parts.finish() }
                    case .writer(let written):
                        totals = written
                    }
                }
            } catch {
                failAll(error)
                throw error
            }
            return Outcome(
                contentSHA256: hash, header: splitter.header.map { String(decoding: $0, as: UTF8.self) }, records: Int64(splitter.records),
                accepted: totals.accepted, rejected: totals.rejected,
                minEventTime: totals.accepted > 0 ? totals.minEventTime : nil, maxEventTime: totals.accepted > 0 ? totals.maxEventTime : nil,
                bytes: feeder.contentBytes, reported: totals.reported, newest: newest)
        }
    }

    /// Column names of a CSV header record.
    static func headerNames(_ header: [UInt8]) throws -> [String] {
        var fields: [CSVField] = []
        return try header.withUnsafeBufferPointer { p -> [String] in
            if let problem = CSV.split(p.baseAddress!, start: 0, end: p.count, into: &fields) {
                throw CapstanError(.invalidArgument, "line 1: malformed CSV header: \(problem)")
            }
            return fields.map { CSV.text(p.baseAddress!, $0).trimmingCharacters(in: .whitespaces) }
        }
    }
}
