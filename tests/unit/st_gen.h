/*
 * A small safetensors writer for tests: tensors are laid out one after
 * the other, and the data is a sparse hole made by ftruncate, so large
 * shapes cost no disk space.
 */
#ifndef PPCOORD_TEST_ST_GEN_H
#define PPCOORD_TEST_ST_GEN_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct st_tensor {
	const char	*name;
	const char	*dtype;		/* "BF16", "F32", ... */
	uint64_t	 rows;
	uint64_t	 cols;		/* 0: a 1-dimensional tensor */
};

static inline unsigned
st_dtype_size(const char *dtype)
{
	if (strcmp(dtype, "F64") == 0 || strcmp(dtype, "I64") == 0 ||
	    strcmp(dtype, "U64") == 0)
		return 8;
	if (strcmp(dtype, "F32") == 0 || strcmp(dtype, "I32") == 0 ||
	    strcmp(dtype, "U32") == 0)
		return 4;
	if (strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0 ||
	    strcmp(dtype, "I16") == 0 || strcmp(dtype, "U16") == 0)
		return 2;
	return 1;
}

static inline uint64_t
st_tensor_bytes(const struct st_tensor *t)
{
	return st_dtype_size(t->dtype) * t->rows * (t->cols ? t->cols : 1);
}

/*
 * Writes a file whose 8-byte length field is `hlen_field` (or the JSON's
 * length when 0), followed by `json` and `data_size` bytes of data.
 * Returns 0 or -1.
 */
static inline int
st_write_raw(const char *path, uint64_t hlen_field, const char *json,
    uint64_t data_size)
{
	unsigned char	 len[8];
	size_t		 jlen = strlen(json);
	uint64_t	 h = hlen_field != 0 ? hlen_field : jlen;
	int		 fd, i, rc = 0;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(h >> (8 * i));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1)
		return -1;
	if (write(fd, len, 8) != 8 ||
	    write(fd, json, jlen) != (ssize_t)jlen ||
	    ftruncate(fd, (off_t)(8 + jlen + data_size)) == -1)
		rc = -1;
	close(fd);
	return rc;
}

/* Writes a valid safetensors file with the given tensors and a
 * __metadata__ entry. Returns 0 or -1. */
static inline int
st_write(const char *path, const struct st_tensor *t, size_t n)
{
	char		*json;
	size_t		 cap = 256 + n * 256, used = 0;
	uint64_t	 off = 0, b;
	size_t		 i;
	int		 rc;

	if ((json = malloc(cap)) == NULL)
		return -1;
	used += (size_t)snprintf(json + used, cap - used,
	    "{\"__metadata__\":{\"format\":\"pt\"}");
	for (i = 0; i < n; i++) {
		b = st_tensor_bytes(&t[i]);
		if (t[i].cols)
			used += (size_t)snprintf(json + used, cap - used,
			    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%llu,%llu],"
			    "\"data_offsets\":[%llu,%llu]}", t[i].name,
			    t[i].dtype, (unsigned long long)t[i].rows,
			    (unsigned long long)t[i].cols,
			    (unsigned long long)off,
			    (unsigned long long)(off + b));
		else
			used += (size_t)snprintf(json + used, cap - used,
			    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%llu],"
			    "\"data_offsets\":[%llu,%llu]}", t[i].name,
			    t[i].dtype, (unsigned long long)t[i].rows,
			    (unsigned long long)off,
			    (unsigned long long)(off + b));
		off += b;
	}
	snprintf(json + used, cap - used, "}");
	rc = st_write_raw(path, 0, json, off);
	free(json);
	return rc;
}

#endif
