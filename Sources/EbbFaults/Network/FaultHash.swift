/// A stable FNV-1a hash of a fault's identity, `<run id>/<sequence>`: where the qdisc handles
/// and NFQUEUE numbers a fault owns come from, so that the record alone can name them again.
enum FaultHash {
    static func of(runID: String, sequence: Int) -> UInt32 {
        var hash: UInt32 = 2166136261
        for byte in "\(runID)/\(sequence)".utf8 { hash = (hash ^ UInt32(byte)) &* 16777619 }
        return hash
    }
}
