/// Health probes, SLO evaluation and telemetry live here (the checks issue). Until then a suite's
/// `checks:` key is accepted and kept as data by EbbCore's loader, and nothing is evaluated.
public enum EbbChecks {}
