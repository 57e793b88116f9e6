import CZlib
import CapstanCore

/// Streaming gzip decoder over zlib. Accepts concatenated gzip members (as `cat a.gz b.gz`
/// produces) and zlib streams; output is appended chunk by chunk, never the whole file.
///
/// Not thread-safe: one upload, one task.
public final class GzipInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)
    private var memberOpen = false
    private var sawInput = false
    /// Decompressed bytes produced so far.
    public private(set) var totalOut = 0

    public init() throws(CapstanError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 32: maximum window, detect gzip or zlib headers automatically.
        let rc = inflateInit2_(stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw CapstanError(.internal, "zlib inflateInit2 failed (\(rc))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Decompresses `input`, calling `output` with each decompressed piece (valid only during the call).
    public func inflate(_ input: UnsafeRawBufferPointer, _ output: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        sawInput = true
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        while true {
            if !memberOpen {
                if stream.pointee.avail_in == 0 { return }
                memberOpen = true
            }
            let capacity = scratch.count
            let (rc, produced) = scratch.withUnsafeMutableBytes { out -> (Int32, Int) in
                stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(capacity)
                let rc = CZlib.inflate(stream, Z_NO_FLUSH)
                return (rc, capacity - Int(stream.pointee.avail_out))
            }
            if produced > 0 {
                totalOut += produced
                try scratch.withUnsafeBytes { try output(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
            }
            switch rc {
            case Z_STREAM_END:
                memberOpen = false
                inflateReset(stream)
            case Z_OK:
                if stream.pointee.avail_in == 0 && produced < capacity { return }
            case Z_BUF_ERROR:
                if stream.pointee.avail_in == 0 { return }
                if produced == 0 { throw CapstanError(.parse, "gzip stream is corrupt (no progress)") }
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw CapstanError(.parse, "not a valid gzip stream after \(totalOut) decompressed bytes: \(reason)")
            }
        }
    }

    /// Checks that the last gzip member was complete.
    public func finish() throws(CapstanError) {
        if memberOpen { throw CapstanError(.parse, "gzip stream is truncated after \(totalOut) decompressed bytes") }
        if !sawInput { throw CapstanError(.parse, "gzip stream is empty") }
    }
}

/// Streaming gzip encoder (one gzip member), for `capstan upload --gzip`.
public final class GzipDeflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)

    public init(level: Int32 = 1) throws(CapstanError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 16: maximum window, gzip wrapper.
        let rc = deflateInit2_(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw CapstanError(.internal, "zlib deflateInit2 failed (\(rc))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input` (and with `finish`, ends the member), appending to `output`.
    public func deflate(_ input: UnsafeRawBufferPointer, finish: Bool, into output: inout [UInt8]) {
        stream.pointee.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
        stream.pointee.avail_in = uInt(input.count)
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        while true {
            let capacity = scratch.count
            let (rc, produced) = scratch.withUnsafeMutableBytes { out -> (Int32, Int) in
                stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(capacity)
                let rc = CZlib.deflate(stream, flush)
                return (rc, capacity - Int(stream.pointee.avail_out))
            }
            output.append(contentsOf: scratch[0..<produced])
            if rc == Z_STREAM_END { return }
            if !finish && stream.pointee.avail_in == 0 && produced < capacity { return }
        }
    }
}
