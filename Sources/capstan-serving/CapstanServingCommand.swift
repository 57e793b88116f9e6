import ArgumentParser

/// `capstan-serving`: the serving data plane, one executable with one subcommand per role. Each
/// role lives in its own file; add a role by adding its command to `subcommands`.
@main
struct CapstanServingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan-serving",
        abstract: "Capstan model serving: model servers (Open Inference Protocol) and the gateway.",
        subcommands: [
            ModelServerCommand.self,
            GatewayCommand.self,
        ])
}
