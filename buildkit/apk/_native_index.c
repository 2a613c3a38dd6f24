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
 * The names index records answer to, for the resolver (buildkit.apk.index_names, whose
 * pure-Python maps these lookups must equal; tests/unit/test_apk_index_names.py checks it).
 *
 * A record whose arch is in the accepted set is listed under its own name and under each
 * provided name ("p" of a provide "p" or "p=v", unless p is its own name): the "providers"
 * group; and under the name of each install_if atom, as ^!?([^<>=~@]+) captures it (else the
 * whole atom): the "install_if" group. A Wolfi index gives 700k such names. A dict of lists
 * costs a str, a list and a dict slot each, allocated and written all over memory: more
 * than parsing the index, while a resolution looks up a few hundred names. So the names are
 * only hashed (FNV-1a over code points, of the slice of the record's own strs: no copies)
 * into one flat array, chained per hash bucket in record order; a lookup walks one chain
 * and confirms each candidate against the record's str itself, so a hash collision can
 * never list a wrong record.
 *
 * names_build(records, accepted, first) -> capsule, or None where a record is not the usual
 * case (more than 65535 provides); names_lookup(capsule, name, group) -> the positions
 * (first + index) listing name in group (0: providers, 1: install_if) in record order, or
 * None when none does. */

static PyObject *ATTR_NAME, *ATTR_ARCH, *ATTR_PROVIDES, *ATTR_INSTALL_IF;

#define NO_ENTRY UINT32_MAX
enum field { FIELD_NAME = 0, FIELD_PROVIDE = 1, FIELD_INSTALL_IF = 2 };

typedef struct {
    uint64_t hash;
    uint32_t position; /* index in records */
    uint32_t next;     /* the next entry of the bucket, or NO_ENTRY */
    uint16_t item;     /* which provide or install_if atom */
    uint8_t field;
} name_entry_t;

typedef struct {
    PyObject *records; /* a tuple (a copy of a list: positions must stay valid) */
    Py_ssize_t first;
    name_entry_t *entries;
    size_t count, capacity;
    uint32_t *heads, *tails;
    size_t mask;
} names_t;

static const char NAMES_NAME[] = "buildkit.apk._native_index.names";

static void
names_free(PyObject *capsule)
{
    names_t *names = PyCapsule_GetPointer(capsule, NAMES_NAME);
    if (names != NULL) {
        Py_XDECREF(names->records);
        PyMem_Free(names->entries);
        PyMem_Free(names->heads);
        PyMem_Free(names->tails);
        PyMem_Free(names);
    }
}

static int
is_operator(Py_UCS4 c)
{
    return c == '<' || c == '>' || c == '=' || c == '~' || c == '@';
}

/* The slice [*start, *end) of text that is the name of the key (field) it is. */
static void
key_slice(PyObject *text, int field, Py_ssize_t *start, Py_ssize_t *end)
{
    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    *start = 0;
    *end = length;
    if (field == FIELD_PROVIDE) {
        for (Py_ssize_t i = 0; i < length; i++) {
            if (PyUnicode_READ(kind, data, i) == '=') {
                *end = i;
                break;
            }
        }
    }
    else if (field == FIELD_INSTALL_IF) {
        Py_ssize_t from = (length > 0 && PyUnicode_READ(kind, data, 0) == '!') ? 1 : 0;
        Py_ssize_t to = from;
        while (to < length && !is_operator(PyUnicode_READ(kind, data, to))) {
            to++;
        }
        if (to == from && from == 1) {
            from = 0; /* "!" then an operator: the regex backtracks and captures the "!" */
        }
        if (to > from) { /* else no match: the whole text */
            *start = from;
            *end = to;
        }
    }
}

static uint64_t
hash_slice(PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    uint64_t hash = 14695981039346656037ULL;
    for (Py_ssize_t i = start; i < end; i++) {
        hash = (hash ^ PyUnicode_READ(kind, data, i)) * 1099511628211ULL;
    }
    return hash ^ (hash >> 29);
}

static int
slices_equal(PyObject *a, Py_ssize_t a0, Py_ssize_t a1, PyObject *b, Py_ssize_t b0,
             Py_ssize_t b1)
{
    if (a1 - a0 != b1 - b0) {
        return 0;
    }
    const int ak = PyUnicode_KIND(a), bk = PyUnicode_KIND(b);
    const void *ad = PyUnicode_DATA(a), *bd = PyUnicode_DATA(b);
    for (Py_ssize_t i = 0; i < a1 - a0; i++) {
        if (PyUnicode_READ(ak, ad, a0 + i) != PyUnicode_READ(bk, bd, b0 + i)) {
            return 0;
        }
    }
    return 1;
}

static int
add_entry(names_t *names, uint64_t hash, Py_ssize_t position, Py_ssize_t item, int field)
{
    if (names->count == names->capacity) {
        size_t capacity = names->capacity ? names->capacity * 2 : 1024;
        name_entry_t *grown = PyMem_Realloc(names->entries, capacity * sizeof(name_entry_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        names->entries = grown;
        names->capacity = capacity;
    }
    name_entry_t *entry = &names->entries[names->count++];
    entry->hash = hash;
    entry->position = (uint32_t)position;
    entry->next = NO_ENTRY;
    entry->item = (uint16_t)item;
    entry->field = (uint8_t)field;
    return 0;
}

/* A str tuple attribute of record (new reference), or NULL with TypeError. */
static PyObject *
str_tuple(PyObject *record, PyObject *attr)
{
    PyObject *values = PyObject_GetAttr(record, attr);
    if (values == NULL) {
        return NULL;
    }
    if (!PyTuple_Check(values)) {
        PyErr_Format(PyExc_TypeError, "names_build: %U must be a tuple", attr);
        Py_DECREF(values);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(values); i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(values, i))) {
            PyErr_Format(PyExc_TypeError, "names_build: %U must hold strs", attr);
            Py_DECREF(values);
            return NULL;
        }
    }
    return values;
}

/* 1: added, 0: not an accepted arch, -1: error, -2: declined. */
static int
add_record(names_t *names, PyObject *record, PyObject *accepted, Py_ssize_t position)
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
    int result = -1;
    PyObject *provides = NULL, *install_if = NULL;
    PyObject *name = PyObject_GetAttr(record, ATTR_NAME);
    if (name == NULL) {
        goto done;
    }
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "names_build: name must be a str");
        goto done;
    }
    provides = str_tuple(record, ATTR_PROVIDES);
    install_if = provides != NULL ? str_tuple(record, ATTR_INSTALL_IF) : NULL;
    if (install_if == NULL) {
        goto done;
    }
    if (PyTuple_GET_SIZE(provides) > UINT16_MAX || PyTuple_GET_SIZE(install_if) > UINT16_MAX) {
        result = -2;
        goto done;
    }
    const Py_ssize_t name_length = PyUnicode_GET_LENGTH(name);
    if (add_entry(names, hash_slice(name, 0, name_length), position, 0, FIELD_NAME) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(provides); i++) {
        PyObject *text = PyTuple_GET_ITEM(provides, i);
        Py_ssize_t start, end;
        key_slice(text, FIELD_PROVIDE, &start, &end);
        if (slices_equal(text, start, end, name, 0, name_length)) {
            continue; /* its own name: listed once */
        }
        if (add_entry(names, hash_slice(text, start, end), position, i, FIELD_PROVIDE) < 0) {
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(install_if); i++) {
        PyObject *text = PyTuple_GET_ITEM(install_if, i);
        Py_ssize_t start, end;
        key_slice(text, FIELD_INSTALL_IF, &start, &end);
        if (add_entry(names, hash_slice(text, start, end), position, i, FIELD_INSTALL_IF) < 0) {
            goto done;
        }
    }
    result = 1;
done:
    Py_XDECREF(name);
    Py_XDECREF(provides);
    Py_XDECREF(install_if);
    return result;
}

/* names_build(records, accepted, first) -> capsule | None */
static PyObject *
names_build(PyObject *module, PyObject *args)
{
    PyObject *records, *accepted;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "OOn", &records, &accepted, &first)) {
        return NULL;
    }
    names_t *names = PyMem_Calloc(1, sizeof(names_t));
    if (names == NULL) {
        return PyErr_NoMemory();
    }
    names->first = first;
    names->records = PySequence_Tuple(records);
    PyObject *capsule = NULL;
    if (names->records == NULL) {
        goto failed;
    }
    const Py_ssize_t count = PyTuple_GET_SIZE(names->records);
    if (count >= (Py_ssize_t)UINT32_MAX) {
        goto declined;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        int added = add_record(names, PyTuple_GET_ITEM(names->records, i), accepted, i);
        if (added == -2) {
            goto declined;
        }
        if (added < 0) {
            goto failed;
        }
    }
    if (names->count >= NO_ENTRY / 2) {
        goto declined;
    }
    size_t buckets = 1024;
    while (buckets < names->count * 2) {
        buckets *= 2;
    }
    names->mask = buckets - 1;
    names->heads = PyMem_Malloc(buckets * sizeof(uint32_t));
    names->tails = PyMem_Malloc(buckets * sizeof(uint32_t));
    if (names->heads == NULL || names->tails == NULL) {
        PyErr_NoMemory();
        goto failed;
    }
    memset(names->heads, 0xff, buckets * sizeof(uint32_t)); /* NO_ENTRY */
    for (size_t e = 0; e < names->count; e++) { /* in order: chains list records in order */
        size_t bucket = names->entries[e].hash & names->mask;
        if (names->heads[bucket] == NO_ENTRY) {
            names->heads[bucket] = (uint32_t)e;
        }
        else {
            names->entries[names->tails[bucket]].next = (uint32_t)e;
        }
        names->tails[bucket] = (uint32_t)e;
    }
    PyMem_Free(names->tails); /* only needed while linking */
    names->tails = NULL;
    capsule = PyCapsule_New(names, NAMES_NAME, names_free);
    if (capsule == NULL) {
        goto failed;
    }
    return capsule;

declined:
    capsule = Py_None;
    Py_INCREF(Py_None);
failed:
    Py_XDECREF(names->records);
    PyMem_Free(names->entries);
    PyMem_Free(names->heads);
    PyMem_Free(names->tails);
    PyMem_Free(names);
    return capsule;
}

/* names_lookup(capsule, name, group) -> list[int] | None */
static PyObject *
names_lookup(PyObject *module, PyObject *args)
{
    PyObject *capsule, *name;
    int group;
    if (!PyArg_ParseTuple(args, "OUi", &capsule, &name, &group)) {
        return NULL;
    }
    names_t *names = PyCapsule_GetPointer(capsule, NAMES_NAME);
    if (names == NULL) {
        return NULL;
    }
    const Py_ssize_t length = PyUnicode_GET_LENGTH(name);
    const uint64_t hash = hash_slice(name, 0, length);
    PyObject *found = NULL;
    for (uint32_t e = names->heads[hash & names->mask]; e != NO_ENTRY;
         e = names->entries[e].next) {
        const name_entry_t *entry = &names->entries[e];
        if (entry->hash != hash || (entry->field == FIELD_INSTALL_IF) != (group == 1)) {
            continue;
        }
        PyObject *record = PyTuple_GET_ITEM(names->records, entry->position);
        PyObject *text;
        if (entry->field == FIELD_NAME) {
            text = PyObject_GetAttr(record, ATTR_NAME);
        }
        else {
            PyObject *values = PyObject_GetAttr(
                record, entry->field == FIELD_PROVIDE ? ATTR_PROVIDES : ATTR_INSTALL_IF);
            if (values == NULL) {
                goto failed;
            }
            /* Records are frozen; should one have been changed anyway, nothing is read out
             * of bounds: it just no longer matches. */
            text = PyTuple_Check(values) && entry->item < PyTuple_GET_SIZE(values)
                       ? PyTuple_GET_ITEM(values, entry->item)
                       : Py_None;
            Py_INCREF(text);
            Py_DECREF(values);
        }
        if (text == NULL) {
            goto failed;
        }
        if (!PyUnicode_Check(text)) {
            Py_DECREF(text);
            continue;
        }
        Py_ssize_t start, end;
        key_slice(text, entry->field, &start, &end);
        int same = slices_equal(text, start, end, name, 0, length);
        Py_DECREF(text);
        if (!same) {
            continue;
        }
        if (found == NULL && (found = PyList_New(0)) == NULL) {
            return NULL;
        }
        PyObject *position = PyLong_FromSsize_t(names->first + entry->position);
        if (position == NULL || PyList_Append(found, position) < 0) {
            Py_XDECREF(position);
            goto failed;
        }
        Py_DECREF(position);
    }
    if (found == NULL) {
        Py_RETURN_NONE;
    }
    return found;

failed:
    Py_XDECREF(found);
    return NULL;
}

static PyMethodDef methods[] = {
    {"layout", layout, METH_VARARGS,
     "layout(cls, keys, kinds, names, required, unique) -> capsule: where parse() puts each field."},
    {"parse", parse, METH_VARARGS,
     "parse(layout, data) -> list of records, or None if data is not the usual case."},
    {"names_build", names_build, METH_VARARGS,
     "names_build(records, accepted, first) -> capsule | None: the names records answer to."},
    {"names_lookup", names_lookup, METH_VARARGS,
     "names_lookup(names, name, group) -> positions listing name (0: providers, 1: install_if)."},
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
