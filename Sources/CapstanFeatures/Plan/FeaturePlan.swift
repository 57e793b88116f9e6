import CapstanAPI
import CapstanCore

/// The compiled form of one or more FeatureViews that one worker evaluates together.
///
/// Every event is decoded once into a slot array: the event fields first (shared by all views,
/// one slot per field name), then per view its `event_time` and its features. Steps run in one
/// global dependency order, so a feature may use features of its own view and of the views it
/// `dependsOn` (computed from the same event).
public struct FeaturePlan: Sendable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var type: EventField.FieldType
    }

    public struct Feature: Sendable {
        public var name: String
        public var type: FeatureType
        public var slot: Int
        /// Index into `ViewPlan.windows` for windowed features.
        public var window: Int?
    }

    public struct ViewPlan: Sendable {
        public var name: String
        public var spec: FeatureViewSpec
        /// The spec as canonical JSON (sorted keys), as the registry stores it.
        public var canonicalSpec: String
        /// Content hash of the view's name and canonical spec; the registry maps it to a
        /// definition version.
        public var definitionHash: String
        public var topic: String?
        public var deadLetterTopic: String?
        public var entityField: Int
        public var eventTimeField: Int
        public var eventTimeFormat: EventTimeSpec.Format
        public var eventTimeSlot: Int
        /// Field indices the view declares, and those it requires.
        public var declaredFields: [Int]
        public var requiredFields: [Int]
        /// Features in declared order.
        public var features: [Feature] {
            didSet { updateLayout() }
        }
        public var windows: [WindowDefinition]
        public var dependsOn: [Int]
        public var allowedLatenessMillis: Int64
        public var onlineEnabled: Bool
        public var onlineTTLMillis: Int64
        public var offlineEnabled: Bool

        /// Positions (into `features`) of the features stored as numbers (number and bool) and
        /// as text, in declared order: the offline row layout.
        public private(set) var numericFeatures: [Int] = []
        public private(set) var stringFeatures: [Int] = []

        mutating func updateLayout() {
            numericFeatures = features.indices.filter { features[$0].type != .string }
            stringFeatures = features.indices.filter { features[$0].type == .string }
        }
    }

    public enum Step: Sendable {
        case expression(view: Int, slot: Int, CompiledExpression)
        case window(view: Int, window: Int, slot: Int, of: CompiledExpression?, filter: CompiledExpression?)

        public var view: Int {
            switch self {
            case .expression(let view, _, _), .window(let view, _, _, _, _): view
            }
        }
    }

    public var fields: [Field]
    public var views: [ViewPlan]
    public var steps: [Step]
    public var slotCount: Int

    /// A hash over every view's definition; window snapshots are only reused by the same plan.
    public var planHash: String {
        var h = StableHash()
        for view in views {
            h.combine(view.name)
            h.combine(view.definitionHash)
        }
        return h.hex
    }

    public func viewIndex(named name: String) -> Int? { views.firstIndex { $0.name == name } }

    /// The Kafka topics the plan consumes.
    public var topics: [String] {
        var seen: [String] = []
        for v in views { if let t = v.topic, !seen.contains(t) { seen.append(t) } }
        return seen
    }
}

/// 128-bit FNV-1a based content hash (two independent 64-bit lanes), hex encoded. Identity of
/// definitions, not security.
struct StableHash {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x6c62_272e_07bb_0142

    mutating func combine(_ text: String) {
        for byte in text.utf8 {
            a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
            b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 &+ 0x9e37_79b9
        }
        a = (a ^ 0xff) &* 0x100_0000_01b3
        b = (b ^ 0xfe) &* 0x0000_0100_0000_01b3
    }

    var hex: String {
        func h(_ x: UInt64) -> String {
            let s = String(x, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return h(a) + h(b)
    }
}
