# Helper functions shared by simrun's CMakeLists files.
include_guard(GLOBAL)

# simrun_sanitizer_flags(<value> <out_var>)
#   Translate the SIMRUN_SANITIZE value ("", "address,undefined", "thread", ...)
#   into compiler/linker flags. Fails the configure step on unknown values.
function(simrun_sanitizer_flags value out_var)
    set(flags "")
    if(NOT value STREQUAL "")
        string(REPLACE "," ";" sanitizers "${value}")
        foreach(s IN LISTS sanitizers)
            if(NOT s MATCHES "^(address|undefined|thread|leak)$")
                message(FATAL_ERROR
                    "SIMRUN_SANITIZE: unknown sanitizer '${s}' (use '', 'address,undefined' or 'thread')")
            endif()
        endforeach()
        if("thread" IN_LIST sanitizers AND ("address" IN_LIST sanitizers OR "leak" IN_LIST sanitizers))
            message(FATAL_ERROR "SIMRUN_SANITIZE: 'thread' cannot be combined with 'address'/'leak'")
        endif()
        if(MSVC)
            message(FATAL_ERROR "SIMRUN_SANITIZE is only supported with GCC and Clang")
        endif()
        list(APPEND flags "-fsanitize=${value}" "-fno-omit-frame-pointer")
        if("undefined" IN_LIST sanitizers)
            # Make every UBSan finding fatal so ctest sees a failure.
            list(APPEND flags "-fno-sanitize-recover=all")
        endif()
    endif()
    set(${out_var} "${flags}" PARENT_SCOPE)
endfunction()

# simrun_target_warnings(<target>)
#   Warning flags for simrun's OWN targets. PRIVATE on purpose: they never
#   propagate to consumers of simrun::simrun / simrun::sim.
function(simrun_target_warnings target)
    if(MSVC)
        target_compile_options(${target} PRIVATE /W4 /permissive-)
        if(SIMRUN_WARNINGS_AS_ERRORS)
            target_compile_options(${target} PRIVATE /WX)
        endif()
    else()
        target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
        # g++ 12 and 13 at -O2/-O3 report false -Wrestrict, -Wstringop-overflow,
        # -Wstringop-overread and -Warray-bounds findings inside libstdc++'s string code
        # (`"text" + s`, a string moved into a vector inside a coroutine frame; GCC bugs 105329,
        # 105651); they say nothing about our code (ASan checks the real thing).
        if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 14)
            target_compile_options(${target} PRIVATE -Wno-restrict -Wno-stringop-overflow
                                                     -Wno-stringop-overread -Wno-array-bounds)
        endif()
        if(SIMRUN_WARNINGS_AS_ERRORS)
            target_compile_options(${target} PRIVATE -Werror)
        endif()
    endif()
endfunction()

# simrun_add_library(<name> DIR <dir> EXPORT_NAME <export> [LINK <libs>...])
#   Library from <dir>/include/**.hpp (public, installed as-is under the include
#   dir) and <dir>/src/**.cpp. Adds alias simrun::<export>. If <dir>/src has no
#   .cpp files yet, the library is header-only (INTERFACE) instead. Both globs recurse: headers
#   and sources in subfolders (runner/include/simrun/core/, runner/src/epoll/, ...) are part of
#   the library, and headers install under the same subfolders. Only <dir>/include and <dir>/src
#   are searched, so a library nested in <dir> (sim/testing/ in sim/) stays a library of its own.
function(simrun_add_library name)
    cmake_parse_arguments(PARSE_ARGV 1 ARG "" "DIR;EXPORT_NAME" "LINK")
    file(GLOB_RECURSE headers CONFIGURE_DEPENDS
        "${ARG_DIR}/include/*.hpp" "${ARG_DIR}/include/*.h")
    file(GLOB_RECURSE sources CONFIGURE_DEPENDS "${ARG_DIR}/src/*.cpp")

    if(sources)
        add_library(${name})  # STATIC unless BUILD_SHARED_LIBS=ON
        target_sources(${name} PRIVATE ${sources})
        set(scope PUBLIC)
        simrun_target_warnings(${name})
        set_target_properties(${name} PROPERTIES
            VERSION "${PROJECT_VERSION}"
            SOVERSION "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}")
    else()
        message(STATUS "simrun: no sources in ${ARG_DIR}/src yet; '${name}' is header-only")
        add_library(${name} INTERFACE)
        set(scope INTERFACE)
    endif()
    add_library(simrun::${ARG_EXPORT_NAME} ALIAS ${name})
    set_target_properties(${name} PROPERTIES EXPORT_NAME ${ARG_EXPORT_NAME})

    # The file set's base dir becomes the (build-tree) include dir; install()
    # of the file set adds the install include dir to the exported target.
    target_sources(${name} ${scope}
        FILE_SET HEADERS
        BASE_DIRS "${ARG_DIR}/include"
        FILES ${headers})
    target_compile_features(${name} ${scope} cxx_std_20)
    if(ARG_LINK)
        target_link_libraries(${name} ${scope} ${ARG_LINK})
    endif()
endfunction()
