import CLibCrypto
import CapstanCore

/// HMAC-SHA256 (RFC 2104 with SHA-256) computed by OpenSSL's libcrypto (`EVP_Q_mac`); the
/// webhook signature. The RFC 4231 test vectors pin it (DriftAlertTests).
public enum HMACSHA256 {
    /// The 32-byte MAC of `message` under `key`.
    public static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length = 0
        let produced = key.withUnsafeBytes { key in
            message.withUnsafeBufferPointer { message in
                out.withUnsafeMutableBufferPointer { out in
                    // A zero-length key or message still needs a valid pointer.
                    EVP_Q_mac(
                        nil, "HMAC", nil, "SHA256", nil, key.baseAddress ?? UnsafeRawPointer(bitPattern: 1), key.count,
                        message.baseAddress ?? UnsafePointer(bitPattern: 1), message.count, out.baseAddress, out.count, &length)
                }
            }
        }
        // Only an allocation failure inside libcrypto makes EVP_Q_mac fail for HMAC-SHA256.
        guard produced != nil, length == 32 else { fatalError("libcrypto: HMAC-SHA256 failed (out of memory?)") }
        return out
    }

    /// The MAC as 64 lowercase hex digits.
    public static func hex(key: [UInt8], message: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in mac(key: key, message: message) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares two strings in time that depends only on their lengths (for checking a
    /// received signature against the expected one).
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
