import ArgumentParser
import CapstanCore
import CapstanIngest
import Foundation
import Synchronization

/// `capstan upload FILE --view V --server URL`: streams a CSV or JSONL file (gzip too) to the
/// ingestion gateway with a progress bar, then prints the result and the rejected lines.
struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload a CSV or JSONL file (optionally gzip) into a FeatureView through capstan-ingest.")

    @Argument(help: "The file; a name ending in .gz is sent compressed as it is.")
    var file: String

    @Option(help: "Target FeatureView (must set spec.source.uploads: true).")
    var view: String

    @Option(help: "csv or jsonl (default: from the file name).")
    var format: String?

    @Flag(help: "Compress the file with gzip while sending it.")
    var gzip = false

    @Option(help: "Gateway REST URL, e.g. http://localhost:8080 (env CAPSTAN_INGEST_URL).")
    var server: String?

    @Option(help: "Idempotency key (default: the content's SHA-256 identifies the upload).")
    var uploadID: String?

    @Option(help: "Rejected lines to print.")
    var showRejects: Int = 20

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let server = server ?? env["CAPSTAN_INGEST_URL"] else { throw ValidationError("set --server or CAPSTAN_INGEST_URL") }
        let compressedFile = file.hasSuffix(".gz")
        let plainName = compressedFile ? String(file.dropLast(3)) : file
        let formatName = format ?? (plainName.hasSuffix(".csv") ? "csv" : (plainName.hasSuffix(".jsonl") || plainName.hasSuffix(".ndjson")) ? "jsonl" : "")
        guard let uploadFormat = UploadFormat(name: formatName) else { throw ValidationError("say --format csv or --format jsonl") }
        guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("no such file: \(file)") }

        // Pass 1: content hash and line count (for an exact ETA and server-side duplicate check).
        Console.line("hashing \(file) …")
        let scan = try FileScan.run(path: file, compressed: compressedFile)
        let fileSize = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
        let request = UploadRequest(
            view: view, format: uploadFormat, gzip: gzip || compressedFile, uploadID: uploadID, contentSHA256: scan.sha256)
        let reader = try ChunkReader(path: file, compress: gzip && !compressedFile)
        let progress = ProgressBar(totalBytes: fileSize, totalLines: scan.lines)
        let client = UploadClient(server: server, token: env["CAPSTAN_INGEST_TOKEN"])
        let response = try await client.upload(request, next: { try reader.next() }, progress: { _ in progress.update(readBytes: reader.bytesRead) })
        progress.done()
        let result = try UploadClient.decode(response)
        print(Self.summary(result, show: showRejects))
        if result.accepted == 0 && result.rows > 0 { throw ExitCode(2) }
    }

    static func summary(_ r: UploadResult, show: Int) -> String {
        var lines: [String] = []
        lines.append(r.duplicate ? "already uploaded (duplicate): nothing added" : "upload committed")
        lines.append("  upload id:   \(r.uploadID)")
        lines.append("  view:        \(r.view) (definition v\(r.definitionVersion))")
        lines.append("  sha256:      \(r.contentSHA256)")
        lines.append("  rows:        \(r.rows)  accepted \(r.accepted)  rejected \(r.rejected)")
        lines.append("  event time:  \(r.minEventTime ?? "-") … \(r.maxEventTime ?? "-")")
        if !r.duplicate { lines.append("  online:      \(r.onlineWritten) entities updated (only where newer)") }
        if !r.rejects.isEmpty {
            lines.append("  rejected lines\(r.rejected > Int64(min(show, r.rejects.count)) ? " (first \(min(show, r.rejects.count)) of \(r.rejected); all in capstan_upload_rejects)" : ""):")
            for reject in r.rejects.prefix(show) { lines.append("    line \(reject.line): \(reject.reason)") }
        }
        return lines.joined(separator: "\n")
    }
}

/// Pass 1 over the file: SHA-256 and line count of the decompressed content.
enum FileScan {
    static func run(path: String, compressed: Bool) throws -> (sha256: String, lines: Int64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CapstanError(.io, "cannot open \(path)") }
        defer { try? handle.close() }
        let hasher = SHA256Hasher()
        let inflater = compressed ? try GzipInflater() : nil
        var lines: Int64 = 0
        var last: UInt8 = 10
        func take(_ bytes: UnsafeRawBufferPointer) {
            hasher.update(bytes)
            for b in bytes where b == 10 { lines += 1 }
            if let l = bytes.last { last = l }
        }
        while let data = try handle.read(upToCount: 4 << 20), !data.isEmpty {
            try data.withUnsafeBytes { raw in
                if let inflater { try inflater.inflate(raw) { take($0) } } else { take(raw) }
            }
        }
        try inflater?.finish()
        if last != 10 { lines += 1 }
        return (hasher.hexDigest(), lines)
    }
}

/// Reads the file in chunks for the upload, compressing on the fly when asked.
final class ChunkReader: @unchecked Sendable {
    // @unchecked Sendable: used by the upload client's one thread only; `bytesRead` is atomic.
    private let handle: FileHandle
    private let deflater: GzipDeflater?
    private var ended = false
    private let read = Atomic<Int64>(0)
    var bytesRead: Int64 { read.load(ordering: .relaxed) }

    init(path: String, compress: Bool) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CapstanError(.io, "cannot open \(path)") }
        self.handle = handle
        deflater = compress ? try GzipDeflater() : nil
    }

    func next() throws -> [UInt8]? {
        if ended { return nil }
        while true {
            let data = try handle.read(upToCount: 1 << 20) ?? Data()
            read.add(Int64(data.count), ordering: .relaxed)
            guard let deflater else {
                if data.isEmpty { ended = true; return nil }
                return [UInt8](data)
            }
            var out: [UInt8] = []
            data.withUnsafeBytes { deflater.deflate($0, finish: data.isEmpty, into: &out) }
            if data.isEmpty { ended = true; return out }
            if !out.isEmpty { return out }
        }
    }
}

/// A one-line progress bar on standard error: percent, rows/s and ETA.
final class ProgressBar: Sendable {
    let totalBytes: Int64
    let totalLines: Int64
    let started = ContinuousClock.now
    private let lastDraw = Mutex<ContinuousClock.Instant?>(nil)

    init(totalBytes: Int64, totalLines: Int64) {
        self.totalBytes = max(1, totalBytes)
        self.totalLines = totalLines
    }

    func update(readBytes: Int64, force: Bool = false) {
        let now = ContinuousClock.now
        let draw = lastDraw.withLock { last -> Bool in
            if !force, let last, now - last < .milliseconds(200) { return false }
            last = now
            return true
        }
        guard draw else { return }
        let fraction = min(1, Double(readBytes) / Double(totalBytes))
        let elapsed = max(0.001, (now - started).inSeconds)
        let rows = Double(totalLines) * fraction
        let rate = rows / elapsed
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let text = String(format: "\r[%@] %5.1f%%  %@ rows/s  ETA %@   ", bar, fraction * 100, Self.compact(rate), Self.clock(eta))
        FileHandle.standardError.write(Data(text.utf8))
    }

    func done() {
        update(readBytes: totalBytes, force: true)
        let elapsed = (ContinuousClock.now - started).inSeconds
        FileHandle.standardError.write(Data(String(format: "\nsent %lld rows in %.1f s\n", totalLines, elapsed).utf8))
    }

    static func compact(_ x: Double) -> String {
        x >= 1e6 ? String(format: "%.2fM", x / 1e6) : x >= 1e3 ? String(format: "%.1fk", x / 1e3) : String(format: "%.0f", x)
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
