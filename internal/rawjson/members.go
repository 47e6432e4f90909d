package rawjson

import "errors"

// Members calls fn with every member of the JSON object obj, in order — the key as its raw token (quotes and
// escapes as written) and the value as its exact bytes — until fn returns false. It validates what it walks and
// returns a *SyntaxError where obj stops being one JSON object (what follows the object is not looked at).
func Members(obj []byte, fn func(key, value []byte) bool) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) {
			return truncated(i)
		}
		if obj[i] != '"' {
			return &SyntaxError{Offset: int64(i), Msg: "object key is not a string"}
		}
		kEnd, err := scanString(obj, i)
		if err != nil {
			return complete(err, i)
		}
		key := obj[i:kEnd]
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return &SyntaxError{Offset: int64(i), Msg: "expected ':' after object key"}
		}
		i = skipSpace(obj, i+1)
		vEnd, err := scanValue(obj, i, 1)
		if err != nil {
			return complete(err, i)
		}
		if !fn(key, obj[i:vEnd]) {
			return nil
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) {
			return truncated(i)
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return nil
		default:
			return &SyntaxError{Offset: int64(i), Msg: "expected ',' or '}' in object"}
		}
	}
}

// Elements calls fn with the exact bytes of every element of the JSON array arr, in order, until fn returns false.
// It validates what it walks and returns a *SyntaxError where arr stops being one JSON array.
func Elements(arr []byte, fn func(value []byte) bool) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return errors.New("not a JSON array")
	}
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for {
		end, err := scanValue(arr, i, 1)
		if err != nil {
			return complete(err, i)
		}
		if !fn(arr[i:end]) {
			return nil
		}
		i = skipSpace(arr, end)
		if i >= len(arr) {
			return truncated(i)
		}
		switch arr[i] {
		case ',':
			i = skipSpace(arr, i+1)
		case ']':
			return nil
		default:
			return &SyntaxError{Offset: int64(i), Msg: "expected ',' or ']' in array"}
		}
	}
}

// complete turns the scanners' "need more input" into a truncation error: Members and Elements have all of it.
func complete(err error, at int) error {
	if errors.Is(err, errNeedMore) {
		return truncated(at)
	}
	return err
}

func truncated(at int) error {
	return &SyntaxError{Offset: int64(at), Msg: "truncated"}
}
