/// What `ebb --version` prints. A build from the source tree says `<VERSION>-dev`;
/// `ci/package.sh` builds from a copy of the tree in which it rewrites this line with the
/// released version (the `VERSION` file, plus `git describe`'s suffix past the release tag).
/// `VersionTests` keeps the number here equal to `VERSION`.
enum EbbVersion {
    static let current = "0.1.0-dev"
}
