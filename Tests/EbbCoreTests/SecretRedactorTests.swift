import EbbCore
import Foundation
import Testing

@Suite struct SecretRedactorTests {
    @Test func everyFormOfASecretIsReplacedAndShortOnesAreOnlyNoticed() {
        let redactor = SecretRedactor()
        redactor.register("p<a\"ss/word")
        redactor.register("p<a")  // shorter than 4: noticed, not replaced
        redactor.register("")
        let json = String(decoding: try! JSONEncoder().encode(["k": "p<a\"ss/word"]), as: UTF8.self)
        #expect(redactor.redact("x p<a\"ss/word y") == "x [redacted] y")
        #expect(redactor.redact(json) == #"{"k":"[redacted]"}"#)
        #expect(redactor.redact("a p&lt;a&quot;ss/word b") == "a [redacted] b")
        #expect(redactor.redact("only p<a here") == "only p<a here")
        #expect(redactor.holdsSecret("only p<a here"))
        #expect(!redactor.holdsSecret(redactor.redact("x p<a\"ss/word y").replacingOccurrences(of: "p<a", with: "")))
    }

    @Test func theLoaderRegistersTheVariablesOfSecretEnv() throws {
        let redactor = SecretRedactor()
        let loader = SuiteLoader(
            catalog: .standard, environment: ["DB_PASSWORD": "correct horse", "UNSET_ONE_IS_FINE": "x"],
            redactor: redactor)
        _ = try loader.load(
            text: """
                secret_env: [DB_PASSWORD, NOT_SET]
                scenarios:
                  - name: one
                    duration: 1s
                    faults:
                      - command: { inject: [echo, "${DB_PASSWORD}"], rollback: [true] }
                """, path: "/tmp/s.yaml")
        #expect(redactor.redact("pw=correct horse") == "pw=[redacted]")
        #expect(!redactor.holdsSecret("x"))
    }

    @Test func anErrorQuotingASecretIsRedactedByTheSharedOutput() throws {
        // The CLI prints errors through Output, which applies the shared redactor.
        let redactor = SecretRedactor()
        let loader = SuiteLoader(catalog: .standard, environment: ["HOLD": "very-secret-hold"], redactor: redactor)
        do {
            _ = try loader.load(
                text: """
                    secret_env: [HOLD]
                    scenarios:
                      - name: one
                        duration: ${HOLD}
                        faults:
                          - command: { inject: [true], rollback: [true] }
                    """, path: "/tmp/s.yaml")
            Issue.record("accepted")
        } catch let error as SuiteErrors {
            #expect(redactor.redact(error.description).contains("'[redacted]' is not a duration"), "\(error)")
        }
    }
}
