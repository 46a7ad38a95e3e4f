using System.Reflection;
using Microsoft.FSharp.Collections;
using WeightFlow.CSharp;
using Xunit;

namespace FacadeTests;

/// <summary>Finds F# types (FSharp.Core, or WeightFlow.Core's own) in the public signatures of types.</summary>
public static class PublicSurface
{
    private static readonly Assembly FSharpCore = typeof(FSharpList<>).Assembly;
    private static readonly Assembly WeightFlowCore = typeof(WeightFlow.Zoo).Assembly;

    private static bool IsFSharp(Type t)
    {
        if (t.HasElementType) return IsFSharp(t.GetElementType()!);
        if (t.IsGenericParameter) return false;
        if (t.Assembly == FSharpCore || t.Assembly == WeightFlowCore) return true;
        return t.IsGenericType && t.GetGenericArguments().Any(IsFSharp);
    }

    /// <summary>"Type.Member: F# type" for every public or protected signature of `types` that mentions an F# type.</summary>
    public static IReadOnlyList<string> Leaks(IEnumerable<Type> types)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var leaks = new List<string>();
        void Check(Type owner, string member, Type? t)
        {
            if (t is not null && IsFSharp(t)) leaks.Add($"{owner.FullName}.{member}: {t}");
        }
        foreach (var type in types)
        {
            Check(type, "(base)", type.BaseType);
            foreach (var i in type.GetInterfaces()) Check(type, "(interface)", i);
            foreach (var m in type.GetMembers(all))
            {
                switch (m)
                {
                    case MethodBase mb when mb.IsPublic || mb.IsFamily || mb.IsFamilyOrAssembly:
                        if (mb is MethodInfo mi) Check(type, mb.Name, mi.ReturnType);
                        foreach (var p in mb.GetParameters()) Check(type, $"{mb.Name}({p.Name})", p.ParameterType);
                        break;
                    case PropertyInfo pi when (pi.GetMethod?.IsPublic ?? false) || (pi.SetMethod?.IsPublic ?? false):
                        Check(type, pi.Name, pi.PropertyType);
                        break;
                    case FieldInfo fi when fi.IsPublic || fi.IsFamily:
                        Check(type, fi.Name, fi.FieldType);
                        break;
                    case EventInfo ei when ei.AddMethod?.IsPublic ?? false:
                        Check(type, ei.Name, ei.EventHandlerType);
                        break;
                }
            }
        }
        return leaks;
    }

    /// <summary>The types a consumer of an assembly sees.</summary>
    public static IEnumerable<Type> Exported(Assembly assembly) => assembly.GetExportedTypes();
}

/// <summary>A type that leaks an F# list on purpose, to show that the check catches it (never exported: the
/// facade's check runs over the facade's assembly only).</summary>
internal sealed class LeakyOnPurpose
{
    public FSharpList<int> Items { get; } = FSharpList<int>.Empty;
    public IReadOnlyList<WeightFlow.Layout> Layouts { get; } = [];
    public int Fine(int x) => x;
}

public sealed class PublicSurfaceTests
{
    [Fact]
    public void The_facade_exposes_no_FSharp_type()
    {
        var exported = PublicSurface.Exported(typeof(WeightFlowModel).Assembly).ToList();
        Assert.Contains(typeof(NetworkPopulation), exported); // the check does look at the facade
        Assert.Empty(PublicSurface.Leaks(exported));
    }

    [Fact]
    public void The_check_catches_a_leaked_FSharp_type()
    {
        var leaks = PublicSurface.Leaks([typeof(LeakyOnPurpose)]);
        Assert.Contains(leaks, l => l.Contains("Items") && l.Contains("FSharpList"));
        Assert.Contains(leaks, l => l.Contains("Layouts") && l.Contains("WeightFlow.Layout")); // nested in a generic
        Assert.DoesNotContain(leaks, l => l.Contains("Fine"));
    }
}

public sealed class ReadmeTests
{
    private static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "WeightFlow.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("WeightFlow.sln not found above the test's folder.");
    }

    [Fact]
    public void The_readme_csharp_tour_is_the_quickstart_sample_that_CI_runs()
    {
        var root = Root();
        var program = File.ReadAllText(Path.Combine(root, "samples", "QuickStart", "Program.cs"));
        var body = program[program.IndexOf("using WeightFlow.CSharp;", StringComparison.Ordinal)..];
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        Assert.Contains("```csharp\n" + body + "```", readme);
    }
}
