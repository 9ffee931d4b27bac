/* Unit tests for parameter sets: set/unset, and the cached tracked views that decide whether a server needs SETs. */
#include "base/params.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

/* A client wanting only what the server has needs nothing; one differing value is seen, interned or not. */
/* Spellings the server treats as one value compare equal; application_name is free text. */
static void test_same_value(void)
{
	CHECK(param_same_value("client_encoding", "utf8", "UTF8"));
	CHECK(param_same_value("client_encoding", "UTF-8", "UTF8"));
	CHECK(param_same_value("DateStyle", "iso, mdy", "ISO, MDY"));
	CHECK(!param_same_value("client_encoding", "LATIN1", "UTF8"));
	CHECK(!param_same_value("client_encoding", "utf", "UTF8"));
	CHECK(!param_same_value("application_name", "App", "app"));
	CHECK(param_same_value("application_name", "app", "app"));
}

static void test_view_equal(struct str_intern *in)
{
	struct params cl = { 0 }, sv = { 0 }, welcome = { 0 };
	struct tracked_view cv = { 0 }, svv = { 0 };
	params_set(&welcome, "client_encoding", "UTF8");
	params_set(&welcome, "DateStyle", "ISO, MDY");
	params_set(&sv, "client_encoding", "UTF8");
	params_set(&sv, "DateStyle", "ISO, MDY");
	params_set(&sv, "TimeZone", "UTC");
	params_view(&cv, &cl, &welcome, in);
	params_view(&svv, &sv, NULL, in);
	CHECK(params_view_equal(&cv, &svv));
	CHECK(!cv.has_extra);

	params_set(&cl, "TimeZone", "Europe/Berlin");   /* the client changed a setting: the view follows */
	params_view(&cv, &cl, &welcome, in);
	CHECK(!params_view_equal(&cv, &svv));
	params_set(&sv, "timezone", "Europe/Berlin");    /* names compare case-insensitively */
	params_view(&svv, &sv, NULL, in);
	CHECK(params_view_equal(&cv, &svv));
	CHECK_EQ_STR(params_get(&sv, "TIMEZONE"), "Europe/Berlin");

	params_set(&cl, "application_name", "app");     /* wanted, but the server has none */
	params_view(&cv, &cl, &welcome, in);
	CHECK(!params_view_equal(&cv, &svv));
	params_set(&sv, "application_name", "app2");
	params_view(&svv, &sv, NULL, in);
	CHECK(!params_view_equal(&cv, &svv));
	params_set(&sv, "application_name", "app");
	params_view(&svv, &sv, NULL, in);
	CHECK(params_view_equal(&cv, &svv));

	params_set(&cl, "search_path", "s1");            /* untracked: the caller looks closer */
	params_view(&cv, &cl, &welcome, in);
	CHECK(cv.has_extra);
	params_unset(&cl, "search_path");
	params_view(&cv, &cl, &welcome, in);
	CHECK(!cv.has_extra);
	params_clear(&cl);
	params_clear(&sv);
	params_clear(&welcome);
}

/* Past its capacity the intern set stops taking values, and views still compare them correctly. */
static void test_intern_full(void)
{
	struct str_intern *in = str_intern_new();
	CHECK(in != NULL);
	struct params a = { 0 }, b = { 0 };
	struct tracked_view av = { 0 }, bv = { 0 };
	char v[32];
	for (int i = 0; i < 3000; i++) {   /* more distinct values than the set keeps */
		snprintf(v, sizeof v, "app-%d", i);
		params_set(&a, "application_name", v);
		params_set(&b, "application_name", v);
		params_view(&av, &a, NULL, in);
		params_view(&bv, &b, NULL, in);
		CHECK(params_view_equal(&av, &bv));
		snprintf(v, sizeof v, "other-%d", i);
		params_set(&b, "application_name", v);
		params_view(&bv, &b, NULL, in);
		CHECK(!params_view_equal(&av, &bv));
	}
	CHECK((av.interned & bv.interned) == 0);   /* the set was full by then */
	params_clear(&a);
	params_clear(&b);
	str_intern_free(in);
}

/* Views with the same interned values share their gen (a server checked against one client's settings knows the
   next client's are the same), different values never do, nor values the intern set did not take. */
static void test_view_gen(void)
{
	struct str_intern *in = str_intern_new();
	struct params a = { 0 }, b = { 0 };
	struct tracked_view av = { 0 }, bv = { 0 };
	params_set(&a, "TimeZone", "UTC");
	params_set(&b, "timezone", "UTC");
	params_set(&b, "DateStyle", "ISO");
	params_unset(&b, "DateStyle"); /* another version, the same values */
	params_view(&av, &a, NULL, in);
	params_view(&bv, &b, NULL, in);
	CHECK(av.gen != 0 && av.gen == bv.gen);
	params_set(&b, "TimeZone", "Europe/Paris");
	params_view(&bv, &b, NULL, in);
	CHECK(bv.gen != av.gen);
	params_set(&b, "TimeZone", "UTC");
	params_set(&b, "search_path", "x"); /* an untracked name too: another set */
	params_view(&bv, &b, NULL, in);
	CHECK(bv.gen != av.gen);
	/* without an intern set every filling is its own */
	struct tracked_view cv = { 0 }, dv = { 0 };
	params_view(&cv, &a, NULL, NULL);
	params_view(&dv, &a, NULL, NULL);
	CHECK(cv.gen != 0 && dv.gen != 0 && cv.gen != dv.gen && cv.gen != av.gen);
	params_clear(&a);
	params_clear(&b);
	str_intern_free(in);
}

int main(void)
{
	struct str_intern *in = str_intern_new();
	test_view_equal(in);
	test_view_equal(NULL);   /* without an intern set: plain string comparison */
	str_intern_free(in);
	test_intern_full();
	test_view_gen();
	test_same_value();
	return unit_done("test_params");
}
