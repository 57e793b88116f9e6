import Logging

/// Process-wide logging for Capstan's executables: swift-log to standard error at one level.
public enum LogSetup {
    /// Bootstraps swift-log once per process (call it first thing in `main`).
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
