/* What every Check suite in tests/ shares: a relative-tolerance assertion
 * and the main() that runs the suite and exits 1 on any failure (meson
 * reads the status). */
#ifndef MOEPLAN_TESTS_CHECK_MAIN_H
#define MOEPLAN_TESTS_CHECK_MAIN_H

#include <check.h>
#include <math.h>

/* |X - Y| <= TOL |Y|, both printed to 17 digits when not. */
#define ck_assert_rel(X, Y, TOL)                                                                             \
    do {                                                                                                     \
        double x_ = (X), y_ = (Y);                                                                           \
        ck_assert_msg(fabs(x_ - y_) <= (TOL) * fabs(y_), "%s = %.17g, expected %.17g (relative tol %g)", #X, \
                      x_, y_, (double)(TOL));                                                                \
    } while (0)

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
