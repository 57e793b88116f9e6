import CapstanKube

/// The Kubernetes resources the batch orchestrator reads and writes.
enum BatchKube {}
