/// The README and the records under docs/ link to each other and to figures by relative paths; the long result logs
/// were moved out of the README into docs/results/ (session 12), so a moved or renamed file would break a link that
/// nothing else checks. This reads every markdown file and fails on each relative link or image whose target is
/// missing (external links and in-page anchors are not checked; a link inside code is not a link).
module WeightFlow.Tests.TestDocLinks

open System
open System.IO
open System.Text.RegularExpressions
open Expecto

/// The repository root: the first folder above the test binary that holds WeightFlow.sln.
let private root () =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failtest "WeightFlow.sln not found above the test binary; run the tests from the repository."
        elif File.Exists(Path.Combine(dir.FullName, "WeightFlow.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// Markdown text without fenced code blocks and inline code spans, where `[a](b)` is code, not a link.
let private withoutCode (text: string) =
    let lines = text.Replace("\r\n", "\n").Split('\n')
    let mutable inFence = false
    let kept =
        [ for line in lines do
            if line.TrimStart().StartsWith "```" then inFence <- not inFence
            elif not inFence then yield Regex.Replace(line, "`[^`]*`", "") ]
    String.Join("\n", kept)

let private inlineLink = Regex(@"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+""[^""]*"")?\s*\)")
let private referenceLink = Regex(@"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", RegexOptions.Multiline)
let private scheme = Regex(@"^[A-Za-z][A-Za-z0-9+.\-]*:")

/// The relative link targets of one markdown text (path part only: no fragment or query), in order.
let relativeTargets (text: string) =
    let body = withoutCode text
    [ for m in inlineLink.Matches body do yield m.Groups[1].Value
      for m in referenceLink.Matches body do yield m.Groups[1].Value ]
    |> List.filter (fun t -> not (scheme.IsMatch t) && not (t.StartsWith "#"))
    |> List.map (fun t -> Uri.UnescapeDataString(t.Split([| '#'; '?' |]).[0]))
    |> List.filter (fun t -> t <> "")

/// "file -> target" for every relative link of `file` whose target (relative to the file's folder) does not exist.
let brokenLinks (file: string) =
    let dir = Path.GetDirectoryName file
    relativeTargets (File.ReadAllText file)
    |> List.filter (fun t ->
        let p = Path.GetFullPath(Path.Combine(dir, t))
        not (File.Exists p || Directory.Exists p))
    |> List.map (fun t -> $"{file} -> {t}")

[<Tests>]
let tests =
    testList "DocLinks" [
        test "every relative link and image in README.md and docs/**/*.md points to an existing file" {
            let root = root ()
            let docs = Path.Combine(root, "docs")
            let files =
                Path.Combine(root, "README.md")
                :: (if Directory.Exists docs then List.ofArray (Directory.GetFiles(docs, "*.md", SearchOption.AllDirectories)) else [])
            Expect.isTrue (File.Exists files.Head) "README.md at the repository root"
            // the README links into docs/results/; without those links a moved section would go unchecked
            Expect.isNonEmpty (relativeTargets (File.ReadAllText files.Head)) "the README has relative links to check"
            let broken = files |> List.collect brokenLinks
            Expect.isEmpty broken $"""broken relative links (fix the path, or restore the file):{Environment.NewLine}{String.Join(Environment.NewLine, broken)}"""
        }

        test "the check finds a missing target, resolves paths from the linking file's folder and ignores code" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-doclinks-{Guid.NewGuid():N}")
            try
                Directory.CreateDirectory(Path.Combine(dir, "sub")) |> ignore
                File.WriteAllText(Path.Combine(dir, "fig.png"), "")
                let md = Path.Combine(dir, "sub", "page.md")
                File.WriteAllText(md,
                    String.Join("\n",
                        [ "![fig](../fig.png) [here](page.md#part) [web](https://example.org/x.md) [top](#top)"
                          "[gone](missing.md) ![gone too](../nope%20here.png)"
                          "`[in code](code-span.md)`"
                          "```"
                          "[in a fence](fenced.md)"
                          "```"
                          "[ref]: ../also-missing.md" ]))
                Expect.equal (brokenLinks md |> List.map (fun s -> s.Substring(md.Length + 4)))
                    [ "missing.md"; "../nope here.png"; "../also-missing.md" ] "exactly the three missing targets"
            finally
                Directory.Delete(dir, true)
        }
    ]
