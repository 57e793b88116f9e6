import CapstanKube

enum KubeErrorFixture {
    static let invalid = KubeError(code: 422, reason: "Invalid", message: "spec.template: Required value")
    static let conflict = KubeError(code: 409, reason: "Conflict", message: "the object has been modified")
}
