import EbbCore
import Foundation

/// Bounds the points a series keeps in the summary, so that an hour-long hold sampled every
/// 50 ms (72,000 samples) still makes a summary of a few hundred kilobytes.
///
/// The rule, for a limit of N points (docs/reference.md, "The timeline section"):
/// 1. A series of at most N points is kept whole.
/// 2. Otherwise it is cut into (N-2)/4 buckets of consecutive points (equal counts), and each
///    bucket keeps its first point and the points with its lowest and highest value; the
///    last point of the series is kept too.
/// 3. Every health transition is kept too (the last point before and the first point after a
///    change between healthy and failed), as long as they number at most N/4; when a check
///    flaps more often than that, each bucket keeps instead its first failed and first healthy
///    point, so that no bucket with a failure looks healthy. The downtime windows, kept whole
///    beside the points, still give every transition's time.
/// The result is in time order and never holds more than N points.
public enum Downsampler {
    public static let defaultLimit = 400

    public static func downsample(_ points: [CheckSeries.Point], limit: Int = defaultLimit) -> [CheckSeries.Point] {
        let limit = max(limit, 8)
        guard points.count > limit else { return points }
        // (N-2)/4 buckets of at most 4 kept points each, plus N/4 transitions or the last point, stay within N.
        let bucketCount = (limit - 2) / 4
        var keep = Set<Int>()
        var transitions: [Int] = []
        for index in points.indices.dropFirst() where points[index].ok != points[index - 1].ok {
            transitions += [index - 1, index]
        }
        let keepTransitions = Set(transitions).count <= limit / 4
        for bucket in 0..<bucketCount {
            let range = (bucket * points.count / bucketCount)..<((bucket + 1) * points.count / bucketCount)
            guard !range.isEmpty else { continue }
            keep.insert(range.lowerBound)
            let valued = range.filter { points[$0].value != nil }
            if let low = valued.min(by: { points[$0].value! < points[$1].value! }) { keep.insert(low) }
            if let high = valued.max(by: { points[$0].value! < points[$1].value! }) { keep.insert(high) }
            if !keepTransitions {
                if let failed = range.first(where: { !points[$0].ok }) { keep.insert(failed) }
                if let healthy = range.first(where: { points[$0].ok }) { keep.insert(healthy) }
            }
        }
        if keepTransitions { keep.formUnion(transitions) }
        keep.insert(points.count - 1)
        return keep.sorted().map { points[$0] }
    }
}
