import EbbCore
import Foundation
import Yams

extension YAMLNodeReader {
    /// The name of an environment variable that holds a credential (`bearer_token_env`). Its
    /// value, when set, is redacted from every report, log and message from now on.
    func secretVariable(_ node: Node, _ key: String) throws -> String {
        let name = try string(node, key)
        SecretRedactor.shared.register(variables: [name], from: ProcessInfo.processInfo.environment)
        return name
    }
}
