import Foundation

/// A self-signed EC certificate and its key (test material only; valid until 2126).
enum TestPEM {
    static let certificate = """
        -----BEGIN CERTIFICATE-----
        MIIBfDCCASOgAwIBAgIUBbKVjlzfJUsJmqXZWidHDX0WrpQwCgYIKoZIzj0EAwIw
        EzERMA8GA1UEAwwIZWJiLXRlc3QwIBcNMjYxMTI1MTc0NTM4WhgPMjEyNjExMDEx
        NzQ1MzhaMBMxETAPBgNVBAMMCGViYi10ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
        AQcDQgAELBt4EaAoZrktXN/3TwcOrpQyMuLzOB4tQK0wT4o6tGGU+vTvAw4xLxuU
        xkUBxjdwepRujHnZFi/hW5DuXBox/qNTMFEwHQYDVR0OBBYEFBF13fxrqKCJ1jri
        dLKF9LpGp4keMB8GA1UdIwQYMBaAFBF13fxrqKCJ1jridLKF9LpGp4keMA8GA1Ud
        EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgZGPo2++emZnp6qV6JPJhccU3
        hUYs3zE39sW+5HfQmPYCICpv5zxbnCSQp4BRnwwtRvSp5u4zYygoIU1LjfI4RMP0
        -----END CERTIFICATE-----
        """
    static let key = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7BEk2OPpRvG2d+hi
        t+UMk1ekDf16CwLXCG6pBuTznhqhRANCAAQsG3gRoChmuS1c3/dPBw6ulDIy4vM4
        Hi1ArTBPijq0YZT69O8DDjEvG5TGRQHGN3B6lG6MedkWL+FbkO5cGjH+
        -----END PRIVATE KEY-----
        """
}
