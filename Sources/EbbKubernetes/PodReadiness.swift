import EbbCore

/// What Kubernetes calls a Ready pod, for the k8s probe's `ready: true` and for waiting on workloads.
public enum PodReadiness {
    /// Ready when the pod's `Ready` condition is `True` and it is not being deleted.
    public static func isReady(_ pod: JSONValue) -> Bool {
        guard pod.value(at: "metadata.deletionTimestamp") == nil else { return false }
        let conditions = pod.value(at: "status.conditions")?.arrayValue ?? []
        return conditions.contains { condition in
            condition["type"]?.stringValue == "Ready" && condition["status"]?.stringValue == "True"
        }
    }
}
