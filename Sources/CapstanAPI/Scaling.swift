/// Replica bounds and the CPU target of a HorizontalPodAutoscaler, shared by every kind that runs
/// pods (feature workers, model servers, gateways).
public struct ScalingSpec: Sendable, Hashable, Codable {
    /// Fewest replicas. Default 1.
    public var minReplicas: Int32?
    /// Most replicas. Default 4. Equal to `minReplicas` pins the count (the HPA still exists).
    public var maxReplicas: Int32?
    /// Average CPU utilisation, in percent of the pods' CPU request, the HPA aims for. Default 70.
    public var targetCPUUtilizationPercentage: Int32?

    public init(minReplicas: Int32? = nil, maxReplicas: Int32? = nil, targetCPUUtilizationPercentage: Int32? = nil) {
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.targetCPUUtilizationPercentage = targetCPUUtilizationPercentage
    }

    public static let defaultMin: Int32 = 1
    public static let defaultMax: Int32 = 4
    public static let defaultCPU: Int32 = 70

    public var effectiveMin: Int32 { minReplicas ?? Self.defaultMin }
    public var effectiveMax: Int32 { max(maxReplicas ?? Self.defaultMax, effectiveMin) }
    public var effectiveCPU: Int32 { targetCPUUtilizationPercentage ?? Self.defaultCPU }

    static func customizeSchema(_ schema: inout OpenAPISchema) {
        schema.description = "Replica bounds and CPU target of the HorizontalPodAutoscaler."
        schema.edit("minReplicas") { $0.minimum = 1; $0.maximum = 1000; $0.defaultValue = .int(Int64(Self.defaultMin)) }
        schema.edit("maxReplicas") { $0.minimum = 1; $0.maximum = 1000; $0.defaultValue = .int(Int64(Self.defaultMax)) }
        schema.edit("targetCPUUtilizationPercentage") { $0.minimum = 1; $0.maximum = 100; $0.defaultValue = .int(Int64(Self.defaultCPU)) }
        schema.validations.append(
            CELRule(rule: "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
                    message: "minReplicas must not exceed maxReplicas"))
    }
}

extension ScalingSpec: OpenAPICustomizing {}
