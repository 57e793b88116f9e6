import ArgumentParser

/// `capstan-bench`: Capstan's benchmarks. Each prints its figure next to an anchor measured in
/// the same run and ends with one `RESULT <name> key=value ...` line. `make bench` runs them all.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-bench", abstract: "Capstan benchmarks.", subcommands: [IngestBench.self, ComputeBench.self])
}
