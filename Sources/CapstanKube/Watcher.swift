import CapstanCore
import Logging

/// The watcher's decisions, free of I/O: list, then watch from the list's resourceVersion;
/// 410 Gone → relist; other failures → wait (exponential backoff with jitter, 0.8 s → 30 s,
/// forgotten after a healthy period); a watch the server closed normally → watch again at once.
public struct WatcherStateMachine: Sendable {
    public enum Phase: Sendable, Equatable {
        /// A (re)list is needed.
        case listing
        /// Watching (or about to watch) from this resourceVersion.
        case watching(resourceVersion: String)
    }

    public enum Action: Sendable, Equatable {
        case list
        case watch(resourceVersion: String)
        case sleep(Duration)
    }

    public private(set) var phase: Phase = .listing
    private var backoff: Backoff
    private var pendingDelay: Duration?
    /// Consecutive failures since the last success (for logs).
    public private(set) var failures = 0

    public init(backoff: Backoff = Backoff(initial: .milliseconds(800), maximum: .seconds(30), jitter: 0.5, resetAfter: .seconds(60))) {
        self.backoff = backoff
    }

    /// What to do next.
    public mutating func nextAction() -> Action {
        if let delay = pendingDelay {
            pendingDelay = nil
            return .sleep(delay)
        }
        switch phase {
        case .listing: return .list
        case .watching(let version): return .watch(resourceVersion: version)
        }
    }

    public mutating func listSucceeded(resourceVersion: String) {
        phase = .watching(resourceVersion: resourceVersion)
        failures = 0
    }

    public mutating func listFailed(now: ContinuousClock.Instant = .now) {
        failures += 1
        pendingDelay = backoff.next(now: now)
    }

    /// An event (or bookmark) arrived: later watches resume after it.
    public mutating func eventReceived(resourceVersion: String?) {
        if let resourceVersion, !resourceVersion.isEmpty { phase = .watching(resourceVersion: resourceVersion) }
        failures = 0
    }

    /// The watch stream ended: `error` nil when the server closed it normally.
    public mutating func watchEnded(error: (any Error)?, now: ContinuousClock.Instant = .now) {
        guard let error else { return }
        if let kube = error as? KubeError, kube.isGone {
            phase = .listing
            return
        }
        failures += 1
        pendingDelay = backoff.next(now: now)
    }
}

/// What a `Watcher` reports.
public enum WatcherEvent: Sendable {
    /// A full (re)list: the complete set of objects at `resourceVersion`. Replaces what came before.
    case listed([JSONValue], resourceVersion: String)
    case added(JSONValue)
    case modified(JSONValue)
    case deleted(JSONValue)
    case bookmark(resourceVersion: String)
}

/// The list-then-watch loop for one resource, driven by `WatcherStateMachine`. Runs until the
/// consuming task is cancelled; failures are logged and retried, never thrown.
public struct Watcher: Sendable {
    public let client: KubeClient
    public let resource: KubeResource
    public var namespace: String?
    public var labelSelector: String?
    public var fieldSelector: String?
    /// How long each watch request lasts on the server before the watcher re-watches.
    public var timeoutSeconds: Int64
    public var pageSize: Int
    public var backoff: Backoff

    public init(
        client: KubeClient, resource: KubeResource, namespace: String? = nil, labelSelector: String? = nil,
        fieldSelector: String? = nil, timeoutSeconds: Int64 = 290, pageSize: Int = 500,
        backoff: Backoff = Backoff(initial: .milliseconds(800), maximum: .seconds(30), jitter: 0.5, resetAfter: .seconds(60))
    ) {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.timeoutSeconds = timeoutSeconds
        self.pageSize = pageSize
        self.backoff = backoff
    }

    /// Runs the loop, handing every event to `handle` in order, until cancelled.
    public func run(_ handle: (WatcherEvent) async -> Void) async {
        var machine = WatcherStateMachine(backoff: backoff)
        var logger = client.logger
        logger[metadataKey: "kube.resource"] = "\(resource)"
        while !Task.isCancelled {
            switch machine.nextAction() {
            case .sleep(let delay):
                do { try await Task.sleep(for: delay) } catch { return }
            case .list:
                do {
                    let list = try await client.listAll(
                        resource, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, pageSize: pageSize)
                    machine.listSucceeded(resourceVersion: list.resourceVersion)
                    await handle(.listed(list.items, resourceVersion: list.resourceVersion))
                } catch {
                    if Task.isCancelled { return }
                    machine.listFailed()
                    logger.info("list failed; retrying", metadata: ["error": "\(error)", "kube.failures": "\(machine.failures)"])
                }
            case .watch(let version):
                let options = WatchOptions(
                    resourceVersion: version, labelSelector: labelSelector, fieldSelector: fieldSelector, allowBookmarks: true,
                    timeoutSeconds: timeoutSeconds)
                var failure: (any Error)?
                do {
                    for try await event in client.watch(resource, namespace: namespace, options: options) {
                        machine.eventReceived(resourceVersion: event.resourceVersion)
                        switch event {
                        case .added(let object): await handle(.added(object))
                        case .modified(let object): await handle(.modified(object))
                        case .deleted(let object): await handle(.deleted(object))
                        case .bookmark(let version): await handle(.bookmark(resourceVersion: version))
                        }
                    }
                } catch {
                    failure = error
                }
                if Task.isCancelled { return }
                if let failure {
                    if let kube = failure as? KubeError, kube.isGone {
                        logger.info("watch expired (410); relisting")
                    } else {
                        logger.info("watch failed; reconnecting", metadata: ["error": "\(failure)"])
                    }
                }
                machine.watchEnded(error: failure)
            }
        }
    }
}
