import EbbCore

/// Renders `ebb plugins`: every plugin with its parameters.
public enum PluginListing {
    public static func text(_ catalog: PluginCatalog) -> String {
        catalog.sortedPlugins.map { plugin in
            var lines = ["\(plugin.id)", "  \(plugin.summary)"]
            for parameter in plugin.parameters {
                let required = parameter.isRequired ? " (required)" : ""
                lines.append(
                    "    \(parameter.name.padded(toWidth: 16)) \(parameter.kind.rawValue)\(required): \(parameter.summary)"
                )
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }
}
