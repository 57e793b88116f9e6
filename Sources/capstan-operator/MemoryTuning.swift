#if canImport(Glibc)
import Glibc
#endif

enum MemoryTuning {
    /// glibc gives every thread that allocates its own malloc arena (up to 8 per core). The
    /// operator runs a few dozen threads (libcurl handles, watches, the cooperative pool, NIO)
    /// that all allocate small JSON values, so arenas multiply its resident memory while holding
    /// little. Two arenas keep RSS proportional to the data; contention stays low because the
    /// reconciles are I/O-bound. An explicit MALLOC_ARENA_MAX in the environment wins.
    static func limitArenas() {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        // mallopt lives in <malloc.h>, which the Glibc module does not export: look it up.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let arenaMax: Int32 = -8  // M_ARENA_MAX
        _ = mallopt(arenaMax, 2)
        #endif
    }
}
