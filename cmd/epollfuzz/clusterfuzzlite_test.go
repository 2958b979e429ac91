package main

import (
	"archive/zip"
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const (
	repoRoot   = "../.."
	modulePath = "github.com/guestpoll/guestpoll"
	buildSh    = repoRoot + "/.clusterfuzzlite/build.sh"
)

// cfliteTarget is one compile_native_go_fuzzer line of build.sh.
type cfliteTarget struct{ pkg, fn, fuzzer string }

var compileRE = regexp.MustCompile(`^compile_native_go_fuzzer\s+(\S+)\s+(\S+)\s+(\S+)\s*$`)

func buildShTargets(t *testing.T) []cfliteTarget {
	t.Helper()
	f, err := os.Open(buildSh)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []cfliteTarget
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "compile_native_go_fuzzer") {
			continue
		}
		m := compileRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("build.sh: cannot read %q (want compile_native_go_fuzzer PACKAGE FUNCTION FUZZER)", line)
		}
		out = append(out, cfliteTarget{m[1], m[2], m[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// repoFuzzTargets returns every native Go fuzz target of the module
// (func FuzzXxx(*testing.F) in a _test.go file), as "import/path.FuzzXxx".
func repoFuzzTargets(t *testing.T) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != repoRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if strings.HasSuffix(file.Name.Name, "_test") {
			return nil // an external test package cannot be built by compile_native_go_fuzzer
		}
		rel, _ := filepath.Rel(repoRoot, filepath.Dir(path))
		pkg := modulePath
		if rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		for _, decl := range file.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && isFuzzTarget(fn) {
				out = append(out, pkg+"."+fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// isFuzzTarget reports whether fn is func FuzzXxx(f *testing.F).
func isFuzzTarget(fn *ast.FuncDecl) bool {
	name := fn.Name.Name
	if !strings.HasPrefix(name, "Fuzz") || (len(name) > 4 && strings.ToLower(name[4:5]) == name[4:5]) {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "F" && sel.X.(*ast.Ident).Name == "testing"
}

// TestClusterFuzzLiteTargets checks .clusterfuzzlite/build.sh against the
// repository: it builds exactly the module's Fuzz functions, each named
// by its package and function, under distinct fuzzer names.
func TestClusterFuzzLiteTargets(t *testing.T) {
	listed := buildShTargets(t)
	var names []string
	fuzzers := map[string]bool{}
	for _, tg := range listed {
		names = append(names, tg.pkg+"."+tg.fn)
		if fuzzers[tg.fuzzer] {
			t.Errorf("build.sh: fuzzer name %s used twice", tg.fuzzer)
		}
		fuzzers[tg.fuzzer] = true
	}
	slices.Sort(names)
	repo := repoFuzzTargets(t)
	if len(repo) == 0 {
		t.Fatal("found no fuzz targets in the repository")
	}
	for _, n := range repo {
		if !slices.Contains(names, n) {
			t.Errorf("fuzz target %s is not built by .clusterfuzzlite/build.sh", n)
		}
	}
	for _, n := range names {
		if !slices.Contains(repo, n) {
			t.Errorf(".clusterfuzzlite/build.sh builds %s, which is not a fuzz target of the repository", n)
		}
	}
	text, err := os.ReadFile(buildSh)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$OUT/(\w+)_seed_corpus\.zip`).FindAllStringSubmatch(string(text), -1) {
		if !fuzzers[m[1]] {
			t.Errorf("build.sh writes a seed corpus for %s, which it does not build", m[1])
		}
	}
}

// TestClusterFuzzLiteBuildScript runs build.sh as the builder image would,
// with compile_native_go_fuzzer replaced by a function that records its
// arguments, and checks that it compiles every listed target and writes
// seed corpora holding the whole conformance corpus.
func TestClusterFuzzLiteBuildScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs epollfuzz twice (-short)")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to check build.sh")
	}
	if _, err := exec.LookPath("zip"); err != nil {
		t.Fatal("zip is needed to check build.sh (the builder image has it)")
	}
	out := t.TempDir()
	stub := `compile_native_go_fuzzer() { echo "$1 $2 $3" >> "$OUT/compiled"; }; source .clusterfuzzlite/build.sh`
	cmd := exec.Command(bash, "-eu", "-c", stub)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "OUT="+out, "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, msg)
	}
	compiled, err := os.ReadFile(filepath.Join(out, "compiled"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(strings.TrimSpace(string(compiled)), "\n")); n != len(buildShTargets(t)) {
		t.Errorf("build.sh compiled %d targets, lists %d", n, len(buildShTargets(t)))
	}
	zips, _ := filepath.Glob(filepath.Join(out, "*_seed_corpus.zip"))
	if len(zips) == 0 {
		t.Fatal("build.sh wrote no seed corpus")
	}
	for _, z := range zips {
		r, err := zip.OpenReader(z)
		if err != nil {
			t.Fatalf("%s: %v", z, err)
		}
		if len(r.File) < 100 {
			t.Errorf("%s holds %d seeds, want the whole conformance corpus", filepath.Base(z), len(r.File))
		}
		r.Close()
	}
}
