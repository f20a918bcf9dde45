/* The main() every Check suite in tests/ shares: run the suite, exit 1 on
 * any failure (meson reads the status). */
#ifndef MOEPLAN_TESTS_CHECK_MAIN_H
#define MOEPLAN_TESTS_CHECK_MAIN_H

#include <check.h>

#define MP_CHECK_MAIN(suite_fn)                                \
    int main(void)                                             \
    {                                                          \
        SRunner *sr_ = srunner_create(suite_fn());             \
        srunner_run_all(sr_, CK_NORMAL);                       \
        int failures_ = srunner_ntests_failed(sr_);            \
        srunner_free(sr_);                                     \
        return failures_ ? 1 : 0;                              \
    }

#endif
