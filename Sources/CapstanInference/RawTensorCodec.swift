import CapstanCore

/// The raw tensor layout shared by gRPC's `raw_input_contents`/`raw_output_contents` and the
/// REST binary tensor data extension: elements flattened row-major, little-endian, no padding;
/// BOOL one byte (0 or 1); BYTES elements each a 4-byte little-endian length then the bytes.
public enum RawTensorCodec {
    /// Appends `data` in the raw layout to `out`.
    public static func append(_ data: TensorData, to out: inout [UInt8]) {
        switch data {
        case .bool(let v):
            out.append(contentsOf: v.lazy.map { $0 ? 1 : 0 })
        case .int32(let v):
            appendFixed(v, to: &out) { $0.littleEndian }
        case .int64(let v):
            appendFixed(v, to: &out) { $0.littleEndian }
        case .fp32(let v):
            appendFixed(v, to: &out) { $0.bitPattern.littleEndian }
        case .fp64(let v):
            appendFixed(v, to: &out) { $0.bitPattern.littleEndian }
        case .bytes(let v):
            for element in v {
                let length = UInt32(truncatingIfNeeded: element.count).littleEndian
                withUnsafeBytes(of: length) { out.append(contentsOf: $0) }
                out.append(contentsOf: element)
            }
        }
    }

    /// `data` in the raw layout.
    public static func encode(_ data: TensorData) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count * (data.datatype.elementSize ?? 8))
        append(data, to: &out)
        return out
    }

    /// Decodes `count` elements of `datatype` from `bytes`. The byte count must match exactly;
    /// the error names `tensor` and what was expected.
    public static func decode<Bytes: RandomAccessCollection>(
        _ bytes: Bytes, datatype: TensorDatatype, count: Int, tensor: String
    ) throws -> TensorData where Bytes.Element == UInt8, Bytes.Index == Int {
        try datatype.requireSupported(tensor: tensor)
        if let size = datatype.elementSize {
            let (expected, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, bytes.count == expected else {
                throw CapstanError(
                    .invalidArgument,
                    "tensor \"\(tensor)\": \(count) \(datatype.rawValue) elements need \(count) x \(size) = \(count &* size) raw bytes, got \(bytes.count)")
            }
        }
        switch datatype {
        case .bool:
            return .bool(bytes.map { $0 != 0 })
        case .int32:
            return .int32(decodeFixed(bytes, count: count) { Int32(littleEndian: $0) })
        case .int64:
            return .int64(decodeFixed(bytes, count: count) { Int64(littleEndian: $0) })
        case .fp32:
            return .fp32(decodeFixed(bytes, count: count) { Float(bitPattern: UInt32(littleEndian: $0)) })
        case .fp64:
            return .fp64(decodeFixed(bytes, count: count) { Double(bitPattern: UInt64(littleEndian: $0)) })
        case .bytes:
            var elements: [[UInt8]] = []
            elements.reserveCapacity(count)
            var offset = bytes.startIndex
            while offset < bytes.endIndex {
                guard bytes.endIndex - offset >= 4 else {
                    throw CapstanError(.invalidArgument, "tensor \"\(tensor)\": BYTES element \(elements.count) is cut off inside its 4-byte length prefix")
                }
                var length = 0
                for i in 0..<4 { length |= Int(bytes[offset + i]) << (8 * i) }
                offset += 4
                guard bytes.endIndex - offset >= length else {
                    throw CapstanError(
                        .invalidArgument,
                        "tensor \"\(tensor)\": BYTES element \(elements.count) declares \(length) bytes but only \(bytes.endIndex - offset) remain")
                }
                elements.append(Array(bytes[offset..<(offset + length)]))
                offset += length
            }
            guard elements.count == count else {
                throw CapstanError(.invalidArgument, "tensor \"\(tensor)\": the shape needs \(count) BYTES elements, the raw data holds \(elements.count)")
            }
            return .bytes(elements)
        default:
            throw CapstanError(.internal, "unreachable: \(datatype.rawValue) passed requireSupported")
        }
    }

    private static func appendFixed<T, Bits: FixedWidthInteger>(_ values: [T], to out: inout [UInt8], _ bits: (T) -> Bits) {
        let size = MemoryLayout<Bits>.size
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: values.count * size))
        out.withUnsafeMutableBytes { raw in
            for (i, value) in values.enumerated() {
                raw.storeBytes(of: bits(value), toByteOffset: start + i * size, as: Bits.self)
            }
        }
    }

    private static func decodeFixed<Bytes: RandomAccessCollection, Bits: FixedWidthInteger, T>(
        _ bytes: Bytes, count: Int, _ make: (Bits) -> T
    ) -> [T] where Bytes.Element == UInt8, Bytes.Index == Int {
        let size = MemoryLayout<Bits>.size
        if let result = bytes.withContiguousStorageIfAvailable({ buffer -> [T] in
            let raw = UnsafeRawBufferPointer(buffer)
            return (0..<count).map { make(raw.loadUnaligned(fromByteOffset: $0 * size, as: Bits.self)) }
        }) {
            return result
        }
        let copy = Array(bytes)
        return copy.withUnsafeBytes { raw in
            (0..<count).map { make(raw.loadUnaligned(fromByteOffset: $0 * size, as: Bits.self)) }
        }
    }
}
