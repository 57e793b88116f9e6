import Foundation

/// Writes progress lines to standard output immediately (unbuffered even into a pipe or file),
/// for the CLI and the benchmarks whose output people and scripts watch while they run.
public enum Console {
    public static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
