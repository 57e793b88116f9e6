import ArgumentParser
import CapstanBatchCommands

/// `capstan-batch`: the same commands as `capstan batch`, for images and the operator's CronJob.
@main
struct CapstanBatchMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-batch", abstract: BatchCommands.configuration.abstract, subcommands: BatchCommands.configuration.subcommands)
}
