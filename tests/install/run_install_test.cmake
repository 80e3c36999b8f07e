# Driver of install.find_package_and_pkg_config (see CMakeLists.txt beside it). Fails loudly at the
# first step that does not work.
cmake_minimum_required(VERSION 3.22)

function(run what)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT" "COMMAND")
  message(STATUS "install test: ${what}")
  execute_process(COMMAND ${arg_COMMAND} RESULT_VARIABLE result OUTPUT_VARIABLE output
                  ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    list(JOIN arg_COMMAND " " command)
    message(FATAL_ERROR "${what} failed (${result}):\n  ${command}\n${output}")
  endif()
  if(arg_OUTPUT)
    string(STRIP "${output}" output)
    set(${arg_OUTPUT} "${output}" PARENT_SCOPE)
  endif()
endfunction()

function(expect_output what actual expected)
  if(NOT actual STREQUAL expected)
    message(FATAL_ERROR "${what} printed\n  ${actual}\nexpected\n  ${expected}")
  endif()
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
separate_arguments(c_flags UNIX_COMMAND "${C_FLAGS}")
set(expected "taut ${EXPECTED_VERSION}: GET /installed -> bad_target_form")
set(expected_c "taut ${EXPECTED_VERSION} from C: GET /installed -> bad_target_form")

set(config_args)
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
run("cmake --install to ${prefix}"
    COMMAND ${CMAKE_COMMAND} --install ${TAUT_BINARY_DIR} --prefix ${prefix} ${config_args})

# 1. The CMake package.
set(build "${WORK_DIR}/find_package")
run("configure the consumer with find_package(taut)"
    COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${GENERATOR}
            -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
            "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" -DCMAKE_C_COMPILER=${C_COMPILER}
            "-DCMAKE_C_FLAGS=${C_FLAGS}" -DCMAKE_PREFIX_PATH=${prefix}
            -DEXPECTED_TAUT_DIR_PREFIX=${prefix} -DTAUT_VERSION=${EXPECTED_VERSION})
run("build the consumer" COMMAND ${CMAKE_COMMAND} --build ${build})
run("run the find_package consumer" COMMAND ${build}/taut_consumer OUTPUT output)
expect_output("the find_package consumer" "${output}" "${expected}")
run("run the find_package C consumer" COMMAND ${build}/taut_consumer_c OUTPUT output)
expect_output("the find_package C consumer" "${output}" "${expected_c}")

# A C project (project(... LANGUAGES C)): the C compiler links, so the package must bring the C++
# runtime of taut::parser itself.
set(build_c_only "${WORK_DIR}/find_package_c_only")
run("configure a C-only project with find_package(taut)"
    COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR}/../consumer_c_only -B ${build_c_only}
            -G ${GENERATOR} -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM} -DCMAKE_C_COMPILER=${C_COMPILER}
            "-DCMAKE_C_FLAGS=${C_FLAGS}" -DCMAKE_PREFIX_PATH=${prefix}
            -DTAUT_VERSION=${EXPECTED_VERSION})
run("build the C-only project" COMMAND ${CMAKE_COMMAND} --build ${build_c_only})
run("run the C-only project's consumer" COMMAND ${build_c_only}/taut_consumer_c OUTPUT output)
expect_output("the C-only project's consumer" "${output}" "${expected_c}")

# One consumer per library: the component, the program, what it must print.
set(consumers
  "transport|taut_consumer_transport|transport: [::1]:8080 @taut-consumer"
  "http1|taut_consumer_http1|http1: HTTP/1.1 200 OK"
  "router|taut_consumer_router|router: GET /users/{name} name=Ada L"
  "server|taut_consumer_server|server: started, stopped"
  "testing|taut_consumer_app|app+testing: 200 Hello, Ada!"
  "client|taut_consumer_client|client: example.com:8080 /a?b=1 invalid_request"
  "proxy|taut_consumer_proxy|proxy: mounted, Keep-Alive is hop-by-hop")
foreach(consumer IN LISTS consumers)
  string(REPLACE "|" ";" consumer "${consumer}")
  list(GET consumer 1 program)
  list(GET consumer 2 printed)
  run("run the find_package ${program}" COMMAND ${build}/${program} OUTPUT output)
  expect_output("the find_package ${program}" "${output}" "${printed}")
endforeach()

# 2. pkg-config: each library's .pc file alone gives what its consumer needs (Requires pulls in
# the taut libraries below it).
find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
file(GLOB_RECURSE pc_files "${prefix}/*/taut-parser.pc")
list(LENGTH pc_files pc_count)
if(NOT pc_count EQUAL 1)
  message(FATAL_ERROR "expected one installed taut-parser.pc under ${prefix}, found: ${pc_files}")
endif()
get_filename_component(pc_dir "${pc_files}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
run("pkg-config --modversion taut-parser" COMMAND ${PKG_CONFIG} --modversion taut-parser
    OUTPUT version)
expect_output("pkg-config --modversion taut-parser" "${version}" "${EXPECTED_VERSION}")

# pkg_config_consumer(<package> <source> <expected output>)
function(pkg_config_consumer package source printed)
  run("pkg-config --cflags --libs ${package}" COMMAND ${PKG_CONFIG} --cflags --libs ${package}
      OUTPUT pc_flags)
  # The flags must name the scratch prefix: the .pc file is relocatable.
  string(FIND "${pc_flags}" "${prefix}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "pkg-config flags do not point into ${prefix}: ${pc_flags}")
  endif()
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  get_filename_component(name "${source}" NAME_WE)
  run("compile ${name} with pkg-config's ${package} flags"
      COMMAND ${CXX_COMPILER} -std=c++20 ${cxx_flags} "-DTAUT_CONSUMER_VERSION=\"${version}\""
              ${CONSUMER_SOURCE_DIR}/${source} ${pc_flags} -o ${WORK_DIR}/pc_${name})
  run("run the pkg-config ${name}" COMMAND ${WORK_DIR}/pc_${name} OUTPUT output)
  expect_output("the pkg-config ${name}" "${output}" "${printed}")
endfunction()

pkg_config_consumer(taut-parser consumer.cpp "${expected}")

# taut.h through the same taut-parser.pc, compiled and linked by the C compiler: the .pc file has
# no -std flag (a C compiler rejects -std=c++20) and names the C++ runtime the library needs.
run("pkg-config --cflags --libs taut-parser" COMMAND ${PKG_CONFIG} --cflags --libs taut-parser
    OUTPUT pc_flags)
if(pc_flags MATCHES "-std=")
  message(FATAL_ERROR "taut-parser.pc sets a language standard, which breaks C consumers: ${pc_flags}")
endif()
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run("compile consumer_c.c as C99 with pkg-config's taut-parser flags"
    COMMAND ${C_COMPILER} -std=c99 -Wall -Wextra -Wpedantic -Werror ${c_flags}
            "-DTAUT_CONSUMER_VERSION=\"${version}\"" ${CONSUMER_SOURCE_DIR}/consumer_c.c ${pc_flags}
            -o ${WORK_DIR}/pc_consumer_c)
run("run the pkg-config consumer_c" COMMAND ${WORK_DIR}/pc_consumer_c OUTPUT output)
expect_output("the pkg-config consumer_c" "${output}" "${expected_c}")

# A C++ consumer that forgets -std=c++20 gets one clear error first, not dozens about std::span.
execute_process(
  COMMAND ${CXX_COMPILER} -std=c++17 ${cxx_flags} "-DTAUT_CONSUMER_VERSION=\"${version}\""
          -c ${CONSUMER_SOURCE_DIR}/consumer.cpp ${pc_flags} -o ${WORK_DIR}/cxx17.o
  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
string(REGEX MATCH "error: [^\n]*" first_error "${output}")
string(FIND "${first_error}" "taut needs C++20: compile with -std=c++20 or later" clear)
if(result EQUAL 0 OR clear EQUAL -1)
  message(FATAL_ERROR "compiling consumer.cpp as C++17 did not fail first with taut's #error "
                      "(${result}):\n${output}")
endif()
message(STATUS "install test: a C++17 consumer fails first with taut's C++20 #error")

foreach(consumer IN LISTS consumers)
  string(REPLACE "|" ";" consumer "${consumer}")
  list(GET consumer 0 component)
  list(GET consumer 1 program)
  list(GET consumer 2 printed)
  string(REPLACE "taut_" "" source "${program}")
  pkg_config_consumer(taut-${component} ${source}.cpp "${printed}")
endforeach()
message(STATUS "install test: find_package(taut) and pkg-config work for every taut library")

# 3. Straight from a build tree, without installing: find_package(taut) with the build directory
# in CMAKE_PREFIX_PATH, where the package is exported too (README: "Using an installed taut").
set(build "${WORK_DIR}/build_tree")
get_filename_component(build_parent "${TAUT_BINARY_DIR}" DIRECTORY)
run("configure the consumer with CMAKE_PREFIX_PATH=${TAUT_BINARY_DIR}"
    COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${GENERATOR}
            -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
            "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" -DCMAKE_C_COMPILER=${C_COMPILER}
            "-DCMAKE_C_FLAGS=${C_FLAGS}" -DCMAKE_PREFIX_PATH=${TAUT_BINARY_DIR}
            -DEXPECTED_TAUT_DIR_PREFIX=${build_parent} -DTAUT_VERSION=${EXPECTED_VERSION})
run("build the build-tree consumers" COMMAND ${CMAKE_COMMAND} --build ${build}
    --target taut_consumer taut_consumer_c taut_consumer_app)
run("run the build-tree consumer" COMMAND ${build}/taut_consumer OUTPUT output)
expect_output("the build-tree consumer" "${output}" "${expected}")
run("run the build-tree C consumer" COMMAND ${build}/taut_consumer_c OUTPUT output)
expect_output("the build-tree C consumer" "${output}" "${expected_c}")
run("run the build-tree taut_consumer_app" COMMAND ${build}/taut_consumer_app OUTPUT output)
expect_output("the build-tree taut_consumer_app" "${output}" "app+testing: 200 Hello, Ada!")
message(STATUS "install test: find_package(taut) works from the build tree")
