import ArgumentParser
import CapstanBatchCommands

/// `capstan`: the user's command-line tool.
@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan",
        abstract: "Capstan: feature store, model serving, drift monitoring and batch pipelines for your own models.",
        subcommands: [Demo.self, Generate.self, Upload.self,
                      TrainingSetCommand.self, BackfillCommand.self, LineageCommand.self,
                      OperatorDemoCommand.self, DriftCommands.self, BatchCommands.self])
}
