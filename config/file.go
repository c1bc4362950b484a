package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// source is the configuration text Load reads: a file, or the embedded default.
type source struct {
	name   string // as error messages show it
	format string // yaml, toml or json
	data   []byte
}

// readSource reads the file at path ("" for the embedded default). Only a failure to read the
// file is a plain error; an unsupported file type is a configuration error.
func readSource(path string) (source, error) {
	if path == "" {
		return source{name: defaultFileName, format: "yaml", data: defaultYAML}, nil
	}
	var format string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		format = "yaml"
	case ".toml":
		format = "toml"
	case ".json":
		format = "json"
	default:
		return source{}, Errors{{File: path, Msg: "unsupported file type: the name must end in .yaml, .yml, .toml or .json"}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return source{}, fmt.Errorf("config: %w", err)
	}
	return source{name: path, format: format, data: data}, nil
}

// parse reads the text and returns the file's own settings, keys as written and null values
// kept (viper's AllSettings drops keys without a value). A malformed file yields Errors, with
// the line where the parser says. Load gives the same tree to viper (see toViper).
func parse(src source) (raw map[string]any, perr Errors) {
	defer func() {
		// A parser bug must not take down a running proxy on reload.
		if r := recover(); r != nil {
			raw, perr = nil, Errors{{File: src.name, Msg: fmt.Sprintf("cannot parse the file: %v", r)}}
		}
	}()
	raw = map[string]any{}
	if src.format == "yaml" {
		// As viper's YAML codec does, but read in pieces (see yieldingReader). An empty file
		// is an empty map, as with yaml.Unmarshal.
		if err := yaml.NewDecoder(newYieldingReader(src.data)).Decode(&raw); err != nil && err != io.EOF {
			return nil, parseError(src, err)
		}
		if raw == nil { // a document that is only a comment or "~"
			raw = map[string]any{}
		}
	} else {
		dec, err := viper.NewCodecRegistry().Decoder(src.format)
		if err != nil {
			return nil, Errors{{File: src.name, Msg: err.Error()}}
		}
		if err := dec.Decode(src.data, raw); err != nil {
			return nil, parseError(src, err)
		}
	}
	return raw, nil
}

// toViper hands the parsed settings to v, so that the file is parsed only once. viper
// lower-cases the keys in place, merging keys that differ only in case: caseTwins must have
// looked at raw before, and later checks compare keys case-insensitively.
func toViper(v *viper.Viper, src source, raw map[string]any) Errors {
	v.SetConfigType(src.format)
	if err := v.MergeConfigMap(raw); err != nil {
		return Errors{{File: src.name, Msg: err.Error()}}
	}
	return nil
}

// caseTwins reports keys given twice in one map with different case (Listen and listen):
// keys are not case-sensitive, and viper would keep one of the two at random.
func caseTwins(m map[string]any, path string) Errors {
	var errs Errors
	upper := false
	for k, v := range m {
		lk := strings.ToLower(k)
		upper = upper || lk != k
		switch v.(type) {
		case map[string]any, []any:
			errs = append(errs, caseTwinsIn(v, joinKey(path, lk))...)
		}
	}
	if !upper { // all lower-case: no two keys can differ only in case
		return errs
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names) // the same message every time
	first := make(map[string]string, len(m))
	for _, k := range names {
		lk := strings.ToLower(k)
		if other, dup := first[lk]; dup {
			errs = append(errs, Error{Key: joinKey(path, lk), Msg: fmt.Sprintf("given twice, as %s and %s (keys are not case-sensitive)", quote(other), quote(k))})
		} else {
			first[lk] = k
		}
	}
	return errs
}

func caseTwinsIn(v any, path string) Errors {
	switch v := v.(type) {
	case map[string]any:
		return caseTwins(v, path)
	case []any:
		var errs Errors
		for i, item := range v {
			switch item.(type) {
			case map[string]any, []any: // scalars hold no keys
				errs = append(errs, caseTwinsIn(item, indexKey(path, i))...)
			}
		}
		return errs
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// parseError turns a parser's error into Errors with lines where they are known.
func parseError(src source, err error) Errors {
	var pe viper.ConfigParseError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		err = pe.Unwrap()
	}
	var typeErr *yaml.TypeError // several problems, each "line N: ..."
	if errors.As(err, &typeErr) && len(typeErr.Errors) > 0 {
		errs := make(Errors, len(typeErr.Errors))
		for i, msg := range typeErr.Errors {
			errs[i] = yamlError(src, msg)
		}
		return errs
	}
	if src.format == "yaml" {
		return Errors{yamlError(src, err.Error())}
	}
	e := Error{File: src.name, Msg: "cannot parse the file: " + err.Error()}
	var syn *json.SyntaxError
	var pos interface{ Position() (row, column int) } // go-toml's DecodeError
	switch {
	case errors.As(err, &syn):
		if off := int(syn.Offset); off >= 0 && off <= len(src.data) {
			e.Line = 1 + bytes.Count(src.data[:off], []byte("\n"))
		}
	case errors.As(err, &pos):
		e.Line, _ = pos.Position()
	}
	return Errors{e}
}

// yamlError moves the line out of a YAML parser message.
func yamlError(src source, msg string) Error {
	e := Error{File: src.name}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if strings.HasPrefix(msg, "cannot unmarshal") && strings.HasSuffix(msg, "into map[string]interface {}") {
		msg = "the top level must be a map of keys such as listen: and rules:"
	}
	e.Msg = "cannot parse the file: " + msg
	return e
}
