/* APKINDEX records in C: the usual case of buildkit.apk.index_records's parsers, compiled.
 *
 * parse(layout, data) reads APKINDEX text (UTF-8 bytes: blank-line separated records of
 * "X:value" lines) into a list of IndexRecord instances, or returns None as soon as anything
 * is not the usual case: an unknown key, a field given twice, a line that is not "X:value",
 * a missing or empty C:, P: or V:, a number that is not 1-18 ASCII digits, bytes that are
 * not UTF-8. The caller then runs the pure-Python parser, which gives the precise error (or,
 * for the rare legal input declined here, the same records). So this file never reports
 * format errors, and for any input it accepts it must give exactly what the Python parser
 * gives; tests/unit/test_apk_index_native.py checks that on the fixtures and on generated
 * and damaged texts.
 *
 * Records are built as the Python fast path builds them: allocated, their slots filled in
 * directly (the class is a frozen dataclass with __slots__, so IndexRecord.__init__ and its
 * object.__setattr__ calls are skipped, not its invariants: every slot gets a value of the
 * declared type). layout(cls, keys, kinds) looks the slot offsets up once.
 *
 * Input is untrusted until the index signature is checked, and an index may be loaded with
 * allow_untrusted: every read below is bounded by the buffer's length, and nothing assumes
 * NUL termination.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <stdint.h>
#include <string.h>

#if PY_VERSION_HEX < 0x030C0000 /* the Py_-prefixed names are 3.12's */
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif

#define MAX_FIELDS 32
#define MAX_DIGITS 18 /* fits in a long long; longer numbers go to the Python parser */

enum kind { KIND_STR = 0, KIND_INT = 1, KIND_OPT_INT = 2, KIND_ATOMS = 3 };

typedef struct {
    char key;
    enum kind kind;
    int required;      /* must be present and not empty (C:, P:, V:) */
    int unique;        /* a str that is never another record's (C:): not worth caching */
    Py_ssize_t offset; /* of the slot in the record */
} field_t;

typedef struct {
    PyTypeObject *cls;
    Py_ssize_t nfields;
    field_t fields[MAX_FIELDS];
    Py_ssize_t extra_offset; /* the "extra" slot: always () here */
    signed char slot_of[128]; /* key byte -> index in fields, or -1 */
} layout_t;

static const char LAYOUT_NAME[] = "buildkit.apk._native_index.layout";

static void
layout_free(PyObject *capsule)
{
    layout_t *layout = PyCapsule_GetPointer(capsule, LAYOUT_NAME);
    if (layout != NULL) {
        Py_XDECREF(layout->cls);
        PyMem_Free(layout);
    }
}

/* The offset of an object slot of cls named name, or -1 with an exception set. */
static Py_ssize_t
slot_offset(PyTypeObject *cls, PyObject *name)
{
    PyObject *descr = PyObject_GetAttr((PyObject *)cls, name);
    if (descr == NULL) {
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
        ((PyMemberDescrObject *)descr)->d_common.d_type == cls) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == Py_T_OBJECT_EX && !(member->flags & Py_READONLY)) {
            offset = member->offset;
        }
    }
    Py_DECREF(descr);
    if (offset < (Py_ssize_t)sizeof(PyObject) ||
        offset + (Py_ssize_t)sizeof(PyObject *) > cls->tp_basicsize) {
        PyErr_Format(PyExc_TypeError, "%R is not an object slot of %R", name, cls);
        return -1;
    }
    return offset;
}

/* layout(cls, keys, kinds, names, required, unique) -> capsule
 *
 * keys: one ASCII letter per field; kinds: a str of digits (0 str, 1 int defaulting to 0,
 * 2 int defaulting to None, 3 atoms); names: the slot of each field, then the slot for
 * unknown keys (set to ()); required: the keys that must be present and not empty; unique:
 * the keys of str values that no two records share. */
static PyObject *
layout(PyObject *module, PyObject *args)
{
    PyTypeObject *cls;
    const char *keys, *kinds, *required, *unique;
    Py_ssize_t nkeys, nkinds, nrequired, nunique;
    PyObject *names;
    if (!PyArg_ParseTuple(args, "O!s#s#O!s#s#", &PyType_Type, &cls, &keys, &nkeys, &kinds,
                          &nkinds, &PyTuple_Type, &names, &required, &nrequired, &unique,
                          &nunique)) {
        return NULL;
    }
    if (nkeys != nkinds || nkeys > MAX_FIELDS || PyTuple_GET_SIZE(names) != nkeys + 1) {
        PyErr_SetString(PyExc_ValueError, "layout: keys, kinds and names do not match");
        return NULL;
    }
    /* parse() untracks the records it makes: the class must be a GC type (every class with
     * __slots__ is), with fixed-size instances. */
    if (cls->tp_alloc == NULL || cls->tp_itemsize != 0 || !PyType_IS_GC(cls)) {
        PyErr_SetString(PyExc_TypeError, "layout: not a class with fixed slots");
        return NULL;
    }
    layout_t *result = PyMem_Calloc(1, sizeof(layout_t));
    if (result == NULL) {
        return PyErr_NoMemory();
    }
    memset(result->slot_of, -1, sizeof(result->slot_of));
    result->nfields = nkeys;
    for (Py_ssize_t i = 0; i < nkeys; i++) {
        unsigned char key = (unsigned char)keys[i];
        if (key >= 128 || key == ':' || key <= ' ' || result->slot_of[key] != -1 ||
            kinds[i] < '0' || kinds[i] > '3') {
            PyMem_Free(result);
            PyErr_SetString(PyExc_ValueError, "layout: bad key or kind");
            return NULL;
        }
        result->slot_of[key] = (signed char)i;
        result->fields[i].key = (char)key;
        result->fields[i].kind = (enum kind)(kinds[i] - '0');
        result->fields[i].required = memchr(required, key, (size_t)nrequired) != NULL;
        result->fields[i].unique = memchr(unique, key, (size_t)nunique) != NULL;
        result->fields[i].offset = slot_offset(cls, PyTuple_GET_ITEM(names, i));
        if (result->fields[i].offset < 0) {
            PyMem_Free(result);
            return NULL;
        }
    }
    result->extra_offset = slot_offset(cls, PyTuple_GET_ITEM(names, nkeys));
    if (result->extra_offset < 0) {
        PyMem_Free(result);
        return NULL;
    }
    /* Each slot once: a slot written twice would leak the first value. */
    for (Py_ssize_t i = 0; i <= nkeys; i++) {
        Py_ssize_t a = i < nkeys ? result->fields[i].offset : result->extra_offset;
        for (Py_ssize_t j = i + 1; j <= nkeys; j++) {
            if (a == (j < nkeys ? result->fields[j].offset : result->extra_offset)) {
                PyMem_Free(result);
                PyErr_SetString(PyExc_ValueError, "layout: two fields name the same slot");
                return NULL;
            }
        }
    }
    Py_INCREF(cls);
    result->cls = cls;
    PyObject *capsule = PyCapsule_New(result, LAYOUT_NAME, layout_free);
    if (capsule == NULL) {
        Py_DECREF(cls);
        PyMem_Free(result);
    }
    return capsule;
}

#define CACHE_SIZE 4096 /* a power of two */
#define CACHE_MAX_LENGTH 64

/* What parse() keeps while it reads: the values of the record being read, and a cache of
 * short ASCII strs already made. Arch, licence, maintainer, origin, URL, commit and most
 * dependency words (so:libc.musl-x86_64.so.1) repeat from record to record; sharing one str
 * saves the allocation and the memory, and equal strs are interchangeable. */
typedef struct {
    PyObject *value[MAX_FIELDS]; /* owned; NULL while absent */
    struct {
        uint64_t hash; /* slot_hash() of the str, kept here to spare a load of the str */
        PyObject *str; /* owned; a compact ASCII str, or NULL */
    } cache[CACHE_SIZE];
} parse_state_t;

static PyObject *
new_ascii(const char *s, Py_ssize_t n)
{
    PyObject *text = PyUnicode_New(n, 127);
    if (text != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(text), s, (size_t)n);
    }
    return text;
}

/* A hash of s[:n] for the cache, from its length and its first and last eight bytes (the
 * cache compares the whole value, so a collision costs only a miss). */
static inline uint64_t
slot_hash(const char *s, Py_ssize_t n)
{
    uint64_t head = 0, tail = 0;
    if (n >= 8) {
        memcpy(&head, s, 8);
        memcpy(&tail, s + n - 8, 8);
    }
    else {
        memcpy(&head, s, (size_t)n);
    }
    uint64_t hash = (head * 0x9E3779B97F4A7C15u) ^ (tail * 0xC2B2AE3D27D4EB4Fu) ^ (uint64_t)n;
    return hash ^ (hash >> 29) ^ (hash >> 41);
}

/* The str of ASCII bytes s[:n], shared with an earlier equal one where the cache has it. */
static PyObject *
cached_ascii(parse_state_t *state, const char *s, Py_ssize_t n)
{
    if (n > CACHE_MAX_LENGTH) {
        return new_ascii(s, n);
    }
    uint64_t hash = slot_hash(s, n);
    PyObject **entry = &state->cache[hash & (CACHE_SIZE - 1)].str;
    if (state->cache[hash & (CACHE_SIZE - 1)].hash == hash && *entry != NULL &&
        PyUnicode_GET_LENGTH(*entry) == n &&
        memcmp(PyUnicode_1BYTE_DATA(*entry), s, (size_t)n) == 0) {
        Py_INCREF(*entry);
        return *entry;
    }
    PyObject *text = new_ascii(s, n);
    if (text != NULL) {
        Py_INCREF(text);
        Py_XSETREF(*entry, text);
        state->cache[hash & (CACHE_SIZE - 1)].hash = hash;
    }
    return text;
}

/* Sentinel results of the converters: NULL is an exception, DECLINE "not the usual case". */
static PyObject DECLINE_OBJECT;
#define DECLINE (&DECLINE_OBJECT)

static PyObject *
decode(const char *s, Py_ssize_t n)
{
    PyObject *text = PyUnicode_DecodeUTF8(s, n, "strict");
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        return DECLINE;
    }
    return text;
}

static PyObject *
to_int(const char *s, Py_ssize_t n)
{
    if (n < 1 || n > MAX_DIGITS) {
        return DECLINE;
    }
    long long number = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return DECLINE;
        }
        number = number * 10 + (s[i] - '0');
    }
    return PyLong_FromLongLong(number);
}

#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

/* Whether s[:n] has a byte >= 0x80 (not ASCII) or, if controls is set, one below 0x20 (a
 * control character: the only ASCII whitespace besides the space), eight bytes at a time. */
static inline int
has_unusual_bytes(const char *s, Py_ssize_t n, int controls)
{
    uint64_t found = 0, word;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&word, s + i, 8);
        found |= word | (controls ? (word - 0x20 * ONES) & ~word : 0);
    }
    if (i < n) {
        word = 0x2020202020202020u; /* spaces: neither unusual */
        memcpy(&word, s + i, (size_t)(n - i));
        found |= word | (controls ? (word - 0x20 * ONES) & ~word : 0);
    }
    return (found & HIGHS) != 0;
}

#define MAX_WORDS 256

/* tuple(value.split()). Plain ASCII separated by spaces is split here; anything else (tabs,
 * other controls, non-ASCII text, which may hold Unicode whitespace) goes through str.split
 * itself, so the result is always exactly Python's. */
static PyObject *
to_atoms(parse_state_t *state, const char *s, Py_ssize_t n)
{
    Py_ssize_t starts[MAX_WORDS], ends[MAX_WORDS], words = 0;
    int plain = !has_unusual_bytes(s, n, 1);
    for (Py_ssize_t i = 0; plain && i < n;) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        if (words == MAX_WORDS) {
            plain = 0;
            break;
        }
        const char *space = memchr(s + i, ' ', (size_t)(n - i));
        starts[words] = i;
        i = space != NULL ? space - s : n;
        ends[words++] = i;
    }
    PyObject *tuple;
    if (plain) {
        tuple = PyTuple_New(words);
        if (tuple == NULL || words == 0) {
            return tuple;
        }
        for (Py_ssize_t w = 0; w < words; w++) {
            PyObject *word = cached_ascii(state, s + starts[w], ends[w] - starts[w]);
            if (word == NULL) {
                Py_DECREF(tuple);
                return NULL;
            }
            PyTuple_SET_ITEM(tuple, w, word);
        }
    }
    else {
        PyObject *text = decode(s, n);
        if (text == NULL || text == DECLINE) {
            return text;
        }
        PyObject *list = PyUnicode_Split(text, NULL, -1);
        Py_DECREF(text);
        if (list == NULL) {
            return NULL;
        }
        tuple = PyList_AsTuple(list);
        Py_DECREF(list);
        if (tuple == NULL || PyTuple_GET_SIZE(tuple) == 0) {
            return tuple;
        }
    }
    /* A tuple of strs can never be part of a reference cycle: the collector untracks such
     * tuples when it first meets them; untracking them now spares it that work. */
    PyObject_GC_UnTrack(tuple);
    return tuple;
}

/* The value of field f from its bytes; DECLINE if they are not the usual case. */
static PyObject *
convert(const field_t *field, parse_state_t *state, const char *s, Py_ssize_t n)
{
    switch (field->kind) {
    case KIND_INT:
    case KIND_OPT_INT:
        return to_int(s, n);
    case KIND_ATOMS:
        return to_atoms(state, s, n);
    case KIND_STR:
        break;
    }
    if (n == 0 && field->required) {
        return DECLINE;
    }
    if (has_unusual_bytes(s, n, 0)) {
        return decode(s, n);
    }
    return field->unique ? new_ascii(s, n) : cached_ascii(state, s, n);
}

static void
clear_state(layout_t *lay, parse_state_t *state)
{
    for (Py_ssize_t f = 0; f < lay->nfields; f++) {
        Py_CLEAR(state->value[f]);
    }
    for (Py_ssize_t i = 0; i < CACHE_SIZE; i++) {
        Py_CLEAR(state->cache[i].str);
    }
}

/* A new record from state->value (taken over) and defaults; NULL with an exception set. */
static PyObject *
build_record(layout_t *lay, parse_state_t *state, PyObject *empty_str, PyObject *empty_tuple,
             PyObject *zero)
{
    PyObject *record = lay->cls->tp_alloc(lay->cls, 0);
    if (record == NULL) {
        return NULL;
    }
    for (Py_ssize_t f = 0; f < lay->nfields; f++) {
        PyObject *value = state->value[f];
        state->value[f] = NULL;
        if (value == NULL) {
            switch (lay->fields[f].kind) {
            case KIND_STR:
                value = empty_str;
                break;
            case KIND_INT:
                value = zero;
                break;
            case KIND_OPT_INT:
                value = Py_None;
                break;
            case KIND_ATOMS:
                value = empty_tuple;
                break;
            }
            Py_INCREF(value);
        }
        *(PyObject **)((char *)record + lay->fields[f].offset) = value;
    }
    Py_INCREF(empty_tuple);
    *(PyObject **)((char *)record + lay->extra_offset) = empty_tuple;
    /* Every slot now holds a str, an int, None or an untracked tuple of strs, and the class
     * is frozen: the record can never be part of a reference cycle, so the cyclic collector
     * need not scan it, now or in any later collection (CPython does the same for dicts of
     * atomic values). Freeing still happens the usual way, by reference count. The one way
     * round: object.__setattr__ past the frozen dataclass could store something that makes
     * a cycle through the record, which would then leak instead of being collected. */
    PyObject_GC_UnTrack(record);
    return record;
}

/* parse(layout, data) -> list[record] | None */
static PyObject *
parse(PyObject *module, PyObject *args)
{
    /* Only bytes: immutable, so no code that runs during an allocation (a collection's
     * callbacks, finalizers) can change the text between a check and its use. */
    PyObject *capsule, *data;
    if (!PyArg_ParseTuple(args, "OO!", &capsule, &PyBytes_Type, &data)) {
        return NULL;
    }
    layout_t *lay = PyCapsule_GetPointer(capsule, LAYOUT_NAME);
    if (lay == NULL) {
        return NULL;
    }
    PyObject *records = PyList_New(0);
    PyObject *empty_str = PyUnicode_New(0, 0);
    PyObject *empty_tuple = PyTuple_New(0);
    PyObject *zero = PyLong_FromLong(0);
    parse_state_t *state = PyMem_Calloc(1, sizeof(parse_state_t));
    PyObject *result = NULL;
    if (records == NULL || empty_str == NULL || empty_tuple == NULL || zero == NULL ||
        state == NULL) {
        if (state == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }

    const char *buf = PyBytes_AS_STRING(data);
    const Py_ssize_t size = PyBytes_GET_SIZE(data);
    unsigned long long present = 0;
    Py_ssize_t pos = 0;
    for (;;) {
        const char *line = buf + pos;
        const char *newline = pos < size ? memchr(line, '\n', (size_t)(size - pos)) : NULL;
        Py_ssize_t length = (newline != NULL ? newline - line : size - pos);
        if (length == 0) { /* a blank line, or the end: the record, if any, is complete */
            if (present) {
                for (Py_ssize_t f = 0; f < lay->nfields; f++) {
                    if (lay->fields[f].required && !(present >> f & 1)) {
                        result = Py_None; /* a record without C:, P: or V: */
                        goto declined;
                    }
                }
                PyObject *record = build_record(lay, state, empty_str, empty_tuple, zero);
                if (record == NULL || PyList_Append(records, record) < 0) {
                    Py_XDECREF(record);
                    goto done;
                }
                Py_DECREF(record);
                present = 0;
            }
            if (pos >= size) {
                break;
            }
            pos += 1;
            continue;
        }
        unsigned char key = (unsigned char)line[0];
        if (length < 2 || line[1] != ':' || key >= 128 || lay->slot_of[key] < 0) {
            result = Py_None; /* not "X:value" with a known X */
            goto declined;
        }
        Py_ssize_t f = lay->slot_of[key];
        if (present >> f & 1) {
            result = Py_None; /* a field given twice */
            goto declined;
        }
        PyObject *value = convert(&lay->fields[f], state, line + 2, length - 2);
        if (value == NULL) {
            goto done;
        }
        if (value == DECLINE) {
            result = Py_None;
            goto declined;
        }
        state->value[f] = value;
        present |= 1ULL << f;
        pos += length + (newline != NULL);
    }
    result = records;
    records = NULL;
    goto done;

declined:
    Py_INCREF(Py_None);
done:
    if (state != NULL) {
        clear_state(lay, state);
        PyMem_Free(state);
    }
    Py_XDECREF(records);
    Py_XDECREF(empty_str);
    Py_XDECREF(empty_tuple);
    Py_XDECREF(zero);
    return result;
}

/* ---------------------------------------------------------------------------------------
 * index_names(records, accepted, first, providers, install_if): the name maps the resolver
 * looks packages up by (buildkit.apk.index_records.index_names, whose pure-Python loop this
 * must equal; tests/unit/test_apk_index_names.py checks that). For the record at position
 * first + i whose arch is in accepted, the position (one int object per record, shared) is
 * appended to providers[name], to providers[p] for each provide "p" or "p=v" with p not the
 * record's own name, and to install_if[t] for each install_if atom, t its name as
 * buildkit.resolve.universe.atom_name gives it (the regex ^!?([^<>=~@]+), else the text).
 * Values already in the dicts must be lists. */

static PyObject *ATTR_NAME, *ATTR_ARCH, *ATTR_PROVIDES, *ATTR_INSTALL_IF;

static int
append_to(PyObject *map, PyObject *key, PyObject *value)
{
    PyObject *list = PyDict_GetItemWithError(map, key); /* borrowed */
    if (list == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        list = PyList_New(1);
        if (list == NULL) {
            return -1;
        }
        Py_INCREF(value);
        PyList_SET_ITEM(list, 0, value);
        int failed = PyDict_SetItem(map, key, list);
        Py_DECREF(list);
        return failed;
    }
    if (!PyList_CheckExact(list)) {
        PyErr_SetString(PyExc_TypeError, "index_names: map values must be lists");
        return -1;
    }
    return PyList_Append(list, value);
}

static int
is_operator(Py_UCS4 c)
{
    return c == '<' || c == '>' || c == '=' || c == '~' || c == '@';
}

/* The name of an atom as ^!?([^<>=~@]+) captures it; the text itself when that does not
 * match. New reference. */
static PyObject *
atom_name(PyObject *text)
{
    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t start = (length > 0 && PyUnicode_READ(kind, data, 0) == '!') ? 1 : 0;
    Py_ssize_t end = start;
    while (end < length && !is_operator(PyUnicode_READ(kind, data, end))) {
        end++;
    }
    if (end == start) {
        if (start == 0) {
            Py_INCREF(text); /* no match at all */
            return text;
        }
        start = 0; /* "!" then an operator: the regex backtracks and captures the "!" */
    }
    if (start == 0 && end == length) {
        Py_INCREF(text);
        return text;
    }
    return PyUnicode_Substring(text, start, end);
}

/* The part of a provide before its first "=" (the whole text without one). New reference. */
static PyObject *
provide_name(PyObject *text)
{
    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Py_ssize_t at = PyUnicode_FindChar(text, '=', 0, length, 1);
    if (at == -2) {
        return NULL;
    }
    if (at < 0) {
        Py_INCREF(text);
        return text;
    }
    return PyUnicode_Substring(text, 0, at);
}

/* Each str of the tuple of strs attribute attr of record, through key_of, appended to map
 * under that key unless it equals skip (NULL: skip nothing). */
static int
append_each(PyObject *record, PyObject *attr, PyObject *(*key_of)(PyObject *), PyObject *skip,
            PyObject *map, PyObject *position)
{
    PyObject *values = PyObject_GetAttr(record, attr);
    if (values == NULL) {
        return -1;
    }
    if (!PyTuple_Check(values)) {
        PyErr_Format(PyExc_TypeError, "index_names: %U must be a tuple", attr);
        Py_DECREF(values);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(values); i++) {
        PyObject *text = PyTuple_GET_ITEM(values, i);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "index_names: %U must hold strs", attr);
            Py_DECREF(values);
            return -1;
        }
        PyObject *key = key_of(text);
        if (key == NULL) {
            Py_DECREF(values);
            return -1;
        }
        int same = skip != NULL ? PyObject_RichCompareBool(key, skip, Py_EQ) : 0;
        if (same < 0 || (!same && append_to(map, key, position) < 0)) {
            Py_DECREF(key);
            Py_DECREF(values);
            return -1;
        }
        Py_DECREF(key);
    }
    Py_DECREF(values);
    return 0;
}

static int
index_one(PyObject *record, PyObject *accepted, Py_ssize_t position, PyObject *providers,
          PyObject *install_if)
{
    PyObject *arch = PyObject_GetAttr(record, ATTR_ARCH);
    if (arch == NULL) {
        return -1;
    }
    int wanted = PySequence_Contains(accepted, arch);
    Py_DECREF(arch);
    if (wanted <= 0) {
        return wanted;
    }
    PyObject *name = PyObject_GetAttr(record, ATTR_NAME);
    PyObject *where = PyLong_FromSsize_t(position);
    int failed = name == NULL || where == NULL || append_to(providers, name, where) < 0 ||
                 append_each(record, ATTR_PROVIDES, provide_name, name, providers, where) < 0 ||
                 append_each(record, ATTR_INSTALL_IF, atom_name, NULL, install_if, where) < 0;
    Py_XDECREF(name);
    Py_XDECREF(where);
    return failed ? -1 : 0;
}

/* index_names(records, accepted, first, providers, install_if) -> None */
static PyObject *
index_names(PyObject *module, PyObject *args)
{
    PyObject *records, *accepted, *providers, *install_if;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "OOnO!O!", &records, &accepted, &first, &PyDict_Type,
                          &providers, &PyDict_Type, &install_if)) {
        return NULL;
    }
    PyObject *items = PySequence_Fast(records, "index_names: records must be a sequence");
    if (items == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(items); i++) {
        /* A strong reference: the list could shrink under us in a callback. */
        PyObject *record = PySequence_Fast_GET_ITEM(items, i);
        Py_INCREF(record);
        int failed = index_one(record, accepted, first + i, providers, install_if);
        Py_DECREF(record);
        if (failed < 0) {
            Py_DECREF(items);
            return NULL;
        }
    }
    Py_DECREF(items);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"layout", layout, METH_VARARGS,
     "layout(cls, keys, kinds, names, required, unique) -> capsule: where parse() puts each field."},
    {"parse", parse, METH_VARARGS,
     "parse(layout, data) -> list of records, or None if data is not the usual case."},
    {"index_names", index_names, METH_VARARGS,
     "index_names(records, accepted, first, providers, install_if): the resolver's name maps."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "buildkit.apk._native_index",
    "APKINDEX records in C (see buildkit.apk.index_records).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native_index(void)
{
    ATTR_NAME = PyUnicode_InternFromString("name");
    ATTR_ARCH = PyUnicode_InternFromString("arch");
    ATTR_PROVIDES = PyUnicode_InternFromString("provides");
    ATTR_INSTALL_IF = PyUnicode_InternFromString("install_if");
    if (ATTR_NAME == NULL || ATTR_ARCH == NULL || ATTR_PROVIDES == NULL || ATTR_INSTALL_IF == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
