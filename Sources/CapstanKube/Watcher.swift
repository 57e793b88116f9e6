import CapstanCore
import Logging

/// The watcher's decisions, free of I/O: list, then watch from the list's resourceVersion;
/// 410 Gone → relist; other failures → wait (exponential backoff with jitter, 0.8 s → 30 s,
/// forgotten after a healthy period); a watch the server closed normally → watch again at once;
/// a periodic resync → relist (the one way to learn of an event the watch never delivered).
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

    /// A periodic resync is due: the next action lists again, whatever the watch was doing.
    public mutating func resyncDue() {
        phase = .listing
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
    /// Relist this often (each period drawn ±10 % at random, so replicas and resources do not
    /// relist in step), even while the watch is healthy: a relist is the only way to learn of
    /// an event the watch never delivered. Nil: relist only when the watch needs it (410).
    public var resyncPeriod: Duration?

    public init(
        client: KubeClient, resource: KubeResource, namespace: String? = nil, labelSelector: String? = nil,
        fieldSelector: String? = nil, timeoutSeconds: Int64 = 290, pageSize: Int = 500,
        backoff: Backoff = Backoff(initial: .milliseconds(800), maximum: .seconds(30), jitter: 0.5, resetAfter: .seconds(60)),
        resyncPeriod: Duration? = nil
    ) {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.timeoutSeconds = timeoutSeconds
        self.pageSize = pageSize
        self.backoff = backoff
        self.resyncPeriod = resyncPeriod
    }

    /// `period` ±10 %, at random.
    public static func jittered(_ period: Duration) -> Duration {
        period * Double.random(in: 0.9...1.1)
    }

    /// Runs the loop, handing every event to `handle` in order, until cancelled.
    public func run(_ handle: (WatcherEvent) async -> Void) async {
        var machine = WatcherStateMachine(backoff: backoff)
        var logger = client.logger
        logger[metadataKey: "kube.resource"] = "\(resource)"
        var resyncAt: ContinuousClock.Instant?
        while !Task.isCancelled {
            switch machine.nextAction() {
            case .sleep(let delay):
                do { try await Task.sleep(for: delay) } catch { return }
            case .list:
                do {
                    let list = try await client.listAll(
                        resource, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, pageSize: pageSize)
                    machine.listSucceeded(resourceVersion: list.resourceVersion)
                    resyncAt = resyncPeriod.map { .now + Self.jittered($0) }
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
                let ending = await watch(options, until: resyncAt, machine: &machine, handle)
                if Task.isCancelled { return }
                switch ending {
                case .resync:
                    logger.debug("periodic resync; relisting")
                    machine.resyncDue()
                case .ended(let failure):
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

    private enum WatchEnding {
        case ended((any Error)?)
        case resync
    }

    private enum WatchItem: Sendable {
        case event(WatchEvent)
        case ended((any Error)?)
        case resync
    }

    /// One watch request, until the server ends it, it fails, or `deadline` (the next resync)
    /// passes. The stream is pumped by a task of its own so the deadline can interrupt it.
    private func watch(
        _ options: WatchOptions, until deadline: ContinuousClock.Instant?, machine: inout WatcherStateMachine,
        _ handle: (WatcherEvent) async -> Void
    ) async -> WatchEnding {
        let (items, sink) = AsyncStream.makeStream(of: WatchItem.self)
        let events = client.watch(resource, namespace: namespace, options: options)
        let pump = Task {
            do {
                for try await event in events { sink.yield(.event(event)) }
                sink.yield(.ended(nil))
            } catch {
                sink.yield(.ended(error))
            }
        }
        let timer = deadline.map { deadline in
            Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                sink.yield(.resync)
            }
        }
        defer {
            pump.cancel()
            timer?.cancel()
            sink.finish()
        }
        for await item in items {
            switch item {
            case .event(let event):
                machine.eventReceived(resourceVersion: event.resourceVersion)
                switch event {
                case .added(let object): await handle(.added(object))
                case .modified(let object): await handle(.modified(object))
                case .deleted(let object): await handle(.deleted(object))
                case .bookmark(let version): await handle(.bookmark(resourceVersion: version))
                }
            case .ended(let failure): return .ended(failure)
            case .resync: return .resync
            }
        }
        return .ended(nil)  // cancelled
    }
}
