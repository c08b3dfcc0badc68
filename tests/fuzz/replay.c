/*
 * Replays fuzz inputs without libFuzzer: each argument is a file or a
 * folder of files fed to the target once. `make check` runs it over the
 * seed corpus and the regression inputs, so every crash that fuzzing ever
 * found stays fixed in ordinary and sanitizer builds.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE	*f;
	uint8_t	*buf;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		fclose(f);
		return -1;
	}
	/* One spare byte so that an empty file still gets a valid pointer. */
	if ((buf = malloc((size_t)len + 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*dir;
	char		 path[4096];
	int		 i, count = 0, fail = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0)
			continue;	/* a target may have no regressions yet */
		if (!S_ISDIR(st.st_mode)) {
			fail |= replay_file(argv[i]) != 0;
			count++;
			continue;
		}
		if ((dir = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    de->d_name);
			fail |= replay_file(path) != 0;
			count++;
		}
		closedir(dir);
	}
	printf("%s: replayed %d inputs\n", argv[0], count);
	return fail;
}
