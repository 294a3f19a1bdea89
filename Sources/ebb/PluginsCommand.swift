import ArgumentParser
import EbbCore
import EbbReports
import Foundation

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "List fault plugins and their parameters.")

    func run() {
        print(PluginListing.text(Wiring.catalog))
    }
}
