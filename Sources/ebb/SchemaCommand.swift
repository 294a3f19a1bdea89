import ArgumentParser
import EbbCore
import Foundation

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of the suite format, for editors that validate and complete YAML.",
        discussion: """
            Save it and point your editor at it, e.g. with the YAML language server (VS Code's YAML \
            extension, Neovim, ...): put '# yaml-language-server: $schema=./ebb-suite.schema.json' \
            at the top of a suite. Fault parameters come from this build's plugins.
            """
    )

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let document = SuiteSchema.document(
            catalog: Wiring.catalog, checkReader: Wiring.loader.checkReader,
            proxyReader: Wiring.loader.proxyReader, remoteHosts: Wiring.loader.remoteFaults != nil)
        print(String(decoding: try encoder.encode(document), as: UTF8.self))
    }
}
