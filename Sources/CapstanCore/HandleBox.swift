/// Holds a C handle (an opaque pointer) for an actor, so that the actor's plain `deinit` can
/// release it.
///
/// Actors that own C handles run on a `DedicatedThreadExecutor`. They use a nonisolated
/// `deinit` rather than `isolated deinit`, because `isolated deinit` on such actors makes the
/// Swift 6.3 release optimizer fail with "circular reference" (an ActorIsolationRequest cycle)
/// in every module that uses the actor.
public final class HandleBox: @unchecked Sendable {
    // @unchecked Sendable: `pointer` is only touched by the owning actor's isolated methods, and
    // by its deinit once no other reference to the actor exists.
    public var pointer: OpaquePointer?

    public init(_ pointer: OpaquePointer? = nil) { self.pointer = pointer }
}
