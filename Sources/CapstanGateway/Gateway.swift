import CapstanCore
import CapstanRedis
import Foundation
import Logging
import Synchronization

/// One answered entity of a predict call.
public struct Prediction: Sendable {
    public var entity: String
    /// The version that served it.
    public var version: String
    public var output: ArraySlice<Double>
    public var row: HydratedRow
}

/// The answer to a predict call.
public struct PredictResult: Sendable {
    public var requestID: String
    public var model: String
    public var predictions: [Prediction]
    /// The model's feature list and view list, for rendering `row`.
    public var plan: HydrationPlan
    /// Wall time from the call's start to its answer.
    public var latency: Duration
    /// When the features were read (epoch ms), the reference for freshness ages.
    public var readAtMillis: Int64
}

/// The serving gateway: entity id → features from Redis → a version picked by the traffic
/// table → that version's model server → prediction (and a log record for Kafka).
///
/// Transport-independent: the HTTP routes (`GatewayHTTP`) and the gRPC service
/// (`GatewayGRPCService`) both call `predict`.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let router: TrafficRouter
    public let hydrator: FeatureHydrator
    public let predictionLog: PredictionLog?
    let plans: [HydrationPlan]
    let backends: [[any InferenceBackend]]
    let metrics: [[VersionMetrics]]
    let counters = GatewayCounters()
    private let idPrefix: String
    private let sequence = Atomic<UInt64>(0)
    private let lastTrafficError = Mutex<String?>(nil)
    private let logger: Logger

    /// - Parameters:
    ///   - redis: the online store (overrides nothing; pass the configuration's URL or another).
    ///   - backends: makes the client of each model version (`OpenInferenceClient.factory` in
    ///     production).
    ///   - predictionLog: where predictions are logged; nil = not logged.
    ///   - seed: seeds the traffic split's draw (tests pin it).
    public convenience init(
        configuration: GatewayConfiguration, redis: RedisConfig, backends factory: InferenceBackendFactory,
        predictionLog: PredictionLog?, seed: UInt64 = UInt64.random(in: 0...UInt64.max), logger: Logger
    ) throws {
        // Made before any stored property is set (see OpenInferenceClient.init).
        let backends = try configuration.models.map { model in
            try model.versions.map { version -> any InferenceBackend in
                let backend = try factory(model, version)
                guard configuration.modelCallsInFlight > 0 else { return backend }
                return CoalescingBackend(backend, maxInFlight: configuration.modelCallsInFlight, maxRows: configuration.maxBatch)
            }
        }
        self.init(configuration: configuration, redis: redis, backends: backends, predictionLog: predictionLog, seed: seed, logger: logger)
    }

    private init(
        configuration: GatewayConfiguration, redis: RedisConfig, backends: [[any InferenceBackend]],
        predictionLog: PredictionLog?, seed: UInt64, logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        router = TrafficRouter(models: configuration.models, file: configuration.trafficFile, seed: seed, logger: logger)
        hydrator = FeatureHydrator(config: redis, connections: configuration.redisConnections, logger: logger)
        self.predictionLog = predictionLog
        plans = configuration.models.map { HydrationPlan(features: $0.features) }
        self.backends = backends
        metrics = configuration.models.map { model in model.versions.map { VersionMetrics(model: model.name, version: $0.name) } }
        idPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    // MARK: - Predicting

    /// Predicts for `entities` of `model` (one round trip to Redis, one call per serving version).
    /// - Parameters:
    ///   - version: serve from this version only (it must be ready), ignoring the traffic table.
    ///   - requestID: the caller's id for the request; one is made up when nil.
    public func predict(model: String, version: String? = nil, entities: [String], requestID: String? = nil) async throws(GatewayError) -> PredictResult {
        let started = ContinuousClock.now
        let modelIndex: Int
        do {
            modelIndex = try router.modelIndex(model)
        } catch {
            counters.rejected("", error.httpStatus)
            throw error
        }
        let route = configuration.models[modelIndex]
        do {
            return try await predict(modelIndex, route, version: version, entities: entities, requestID: requestID, started: started)
        } catch {
            counters.rejected(route.name, error.httpStatus)
            throw error
        }
    }

    private func predict(
        _ modelIndex: Int, _ route: ModelRoute, version: String?, entities: [String], requestID: String?, started: ContinuousClock.Instant
    ) async throws(GatewayError) -> PredictResult {
        var pinned: Int?
        if let version {
            guard let index = route.versions.firstIndex(where: { $0.name == version }) else {
                throw GatewayError(.notFound, "model '\(route.name)' has no version '\(version)' (versions: \(route.versions.map(\.name).joined(separator: ", ")))")
            }
            pinned = index
        }
        try validate(entities)
        let id = requestID ?? nextRequestID()
        let plan = plans[modelIndex]
        let now = EpochMillis.now()
        let rows = try await hydrator.hydrate(plan, entities: entities, nowMillis: now)

        // Choose a version per entity; usually they all land on one.
        var chosen = [Int](repeating: 0, count: entities.count)
        var used = 0 as UInt64  // bit set of versions (first 64)
        for (i, entity) in entities.enumerated() {
            chosen[i] = try router.choose(model: modelIndex, entity: entity, pinned: pinned)
            used |= 1 << UInt64(min(chosen[i], 63))
        }
        var outputs = [InferenceOutput?](repeating: nil, count: route.versions.count)
        var rowInGroup = [Int](repeating: 0, count: entities.count)
        if used.nonzeroBitCount == 1 {
            let v = chosen[0]
            for i in rowInGroup.indices { rowInGroup[i] = i }
            outputs[v] = try await call(modelIndex, v, rows: rows, indices: Array(entities.indices), started: started)
        } else {
            var groups: [Int: [Int]] = [:]
            for (i, v) in chosen.enumerated() {
                rowInGroup[i] = groups[v, default: []].count
                groups[v, default: []].append(i)
            }
            let results = await withTaskGroup(of: (Int, Result<InferenceOutput, GatewayError>).self) { group in
                for (v, indices) in groups {
                    group.addTask {
                        do throws(GatewayError) {
                            return (v, .success(try await self.call(modelIndex, v, rows: rows, indices: indices, started: started)))
                        } catch {
                            return (v, .failure(error))
                        }
                    }
                }
                var collected: [(Int, Result<InferenceOutput, GatewayError>)] = []
                for await result in group { collected.append(result) }
                return collected
            }
            for (v, result) in results { outputs[v] = try result.get() }
        }

        var predictions: [Prediction] = []
        predictions.reserveCapacity(entities.count)
        for (i, entity) in entities.enumerated() {
            let v = chosen[i]
            let output = outputs[v]!.row(rowInGroup[i])
            predictions.append(Prediction(entity: entity, version: route.versions[v].name, output: output, row: rows[i]))
        }
        let latency = ContinuousClock.now - started
        if let predictionLog {
            for prediction in predictions {
                let unusable = prediction.row.missing + prediction.row.invalid
                let queued = predictionLog.record(PredictionRecord(
                    requestID: id, model: route.name, version: prediction.version, entity: prediction.entity,
                    features: prediction.row.values, output: Array(prediction.output),
                    missing: unusable.isEmpty ? [] : unusable.sorted().map { route.features[$0].qualifiedName },
                    timeMillis: now))
                if !queued { counters.predictionsDropped.increment() }
            }
        }
        return PredictResult(requestID: id, model: route.name, predictions: predictions, plan: plan, latency: latency, readAtMillis: now)
    }

    /// Calls version `v` with the rows at `indices`; counts the request, error and latency.
    private func call(_ model: Int, _ v: Int, rows: [HydratedRow], indices: [Int], started: ContinuousClock.Instant) async throws(GatewayError) -> InferenceOutput {
        let columns = plans[model].features.count
        var values: [Double] = []
        values.reserveCapacity(indices.count * columns)
        for i in indices { values.append(contentsOf: rows[i].values) }
        let metrics = self.metrics[model][v]
        metrics.requests.increment()
        do throws(GatewayError) {
            let output = try await backends[model][v].infer(InferenceInput(rows: indices.count, columns: columns, values: values))
            guard output.rows == indices.count, output.width > 0, output.values.count == output.rows * output.width else {
                throw GatewayError(.badGateway, "model server of '\(configuration.models[model].name)' version '\(configuration.models[model].versions[v].name)' answered \(output.rows) rows × \(output.width) for \(indices.count) rows")
            }
            metrics.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            return output
        } catch {
            metrics.errors.increment()
            metrics.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
            throw error
        }
    }

    private func validate(_ entities: [String]) throws(GatewayError) {
        guard !entities.isEmpty else {
            throw GatewayError(.badRequest, "no entity given; expected {\"entity\": \"<id>\"} or {\"entities\": [\"<id>\", ...]}")
        }
        guard entities.count <= configuration.maxBatch else {
            throw GatewayError(.badRequest, "\(entities.count) entities in one request; at most \(configuration.maxBatch) are accepted")
        }
        for (i, entity) in entities.enumerated() {
            guard !entity.isEmpty, entity.utf8.count <= 512, !entity.utf8.contains(where: { $0 < 0x20 }) else {
                throw GatewayError(.badRequest, "entity \(i) is not a valid id (expected 1-512 bytes without control characters)")
            }
        }
    }

    private func nextRequestID() -> String {
        "\(idPrefix)-\(sequence.wrappingAdd(1, ordering: .relaxed).newValue)"
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    // MARK: - Running

    /// Asks every version's model server whether its model is ready, once, and updates the
    /// traffic table (a version that is not ready gets no traffic).
    public func refreshReadiness() async {
        await withTaskGroup(of: Void.self) { group in
            for (m, versions) in backends.enumerated() {
                for (v, backend) in versions.enumerated() {
                    group.addTask { self.router.setReady(model: m, version: v, await backend.isReady()) }
                }
            }
        }
    }

    /// Applies the traffic file if it changed; logs (once per distinct problem) a file that
    /// cannot be applied and keeps the table as it was.
    public func refreshTraffic() {
        do {
            try router.reloadIfChanged()
            lastTrafficError.withLock { $0 = nil }
        } catch {
            let message = "\(error)"
            let isNew = lastTrafficError.withLock { last -> Bool in
                defer { last = message }
                return last != message
            }
            if isNew { logger.error("traffic file not applied; keeping the current table", metadata: ["error": "\(message)"]) }
        }
    }

    /// The problem with the traffic file, if the last reload failed.
    public var trafficFileError: String? { lastTrafficError.withLock { $0 } }

    /// True when every model has a ready version with traffic.
    public var isReady: Bool {
        configuration.models.indices.allSatisfy { m in
            (try? router.choose(model: m, entity: "", pinned: nil)) != nil
        }
    }

    /// Runs the backends' connections, readiness polling, traffic file polling and the
    /// prediction log until cancelled; then closes them.
    public func run() async throws {
        refreshTraffic()
        await withTaskGroup(of: Void.self) { group in
            for (m, versions) in backends.enumerated() {
                for (v, backend) in versions.enumerated() {
                    group.addTask {
                        // A backend whose connections end with an error stays out of service
                        // (readiness polling marks it not ready); say why instead of dropping it.
                        do {
                            try await backend.run()
                        } catch {
                            let route = self.configuration.models[m]
                            self.logger.error("model server connection ended", metadata: [
                                "model": "\(route.name)", "version": "\(route.versions[v].name)", "error": "\(error)",
                            ])
                        }
                    }
                }
            }
            if let predictionLog { group.addTask { await predictionLog.run() } }
            group.addTask {
                while !Task.isCancelled {
                    await self.refreshReadiness()
                    try? await Task.sleep(for: self.configuration.readinessPollInterval)
                }
            }
            if configuration.trafficFile != nil {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.configuration.trafficPollInterval)
                        self.refreshTraffic()
                    }
                }
            }
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                self.shutdown()
            }
            group.cancelAll()
        }
        await hydrator.close()
    }

    private func shutdown() {
        predictionLog?.finish()
        for versions in backends { for backend in versions { backend.close() } }
    }
}
